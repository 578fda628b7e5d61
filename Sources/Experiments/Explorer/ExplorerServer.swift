// ExplorerServer: the Circuit Explorer's HTTP server (Hummingbird 2) — the page and its assets, built into
// the binary, and the JSON API over ExplorerEngine. Its own target, so that `import Experiments` and
// `import Interp` need no networking.

import Experiments
import Foundation
import HTTPTypes
import Hummingbird
import Interp
import Logging

/// The routes of the explorer: `GET /` (the page), `GET /assets/…`, `GET /api/info`, `POST /api/run`,
/// `POST /api/cell`, `POST /api/expand`, `POST /api/qk`, `POST /api/intervene`, `GET /api/graph`, and
/// `GET /dashboards/{layer}/feature-N.html` when dashboards were given (Docs/experiments/circuit-explorer.md).
public enum ExplorerServer {
    /// The largest request body accepted (a prompt at its byte limit, escaped, with room for the other fields).
    public static func bodyLimit(_ engine: ExplorerEngine) -> Int { 6 * engine.settings.maxPromptBytes + 16_384 }

    /// Example prompts the page offers.
    public static let examples: [(name: String, prompt: String)] = [
        ("induction: a repeated phrase", CircuitTraceRequest.defaultPrompt),
        ("induction: a repeated random sequence", "Rex 48 quill amber 91 zephyr, Rex 48 quill amber 91 zephyr"),
        ("IOI: indirect object", "When Mary and John went to the store, John gave a drink to"),
    ]

    /// The router with every route.
    public static func router(engine: ExplorerEngine) -> Router<BasicRequestContext> {
        let router = Router()
        let limit = bodyLimit(engine)
        router.add(middleware: SecurityHeaders())
        router.get("/") { _, _ in asset(ExplorerAssets.indexHTML, type: "text/html; charset=utf-8") }
        router.get("/assets/explorer.js") { _, _ in asset(ExplorerAssets.script, type: "text/javascript; charset=utf-8") }
        router.get("/assets/explorer.css") { _, _ in asset(ExplorerAssets.style, type: "text/css; charset=utf-8") }
        router.get("/api/info") { _, _ in
            try json(Info(model: engine.model.name, saes: engine.saeNames, maxPromptBytes: engine.settings.maxPromptBytes, maxTokens: engine.maxTokens,
                          attentionLayers: engine.tracer.attention.keys.sorted(), residualLayers: engine.tracer.residual.keys.sorted(),
                          dashboards: engine.dashboards.keys.sorted(),
                          examples: examples.map { Info.Example(name: $0.name, prompt: $0.prompt) }))
        }
        router.post("/api/run") { request, _ in try await answer { try json(await engine.run(try await decode(request, limit))) } }
        router.post("/api/cell") { request, _ in try await answer { try json(await engine.cell(try await decode(request, limit))) } }
        router.post("/api/expand") { request, _ in try await answer { try json(await engine.expand(try await decode(request, limit))) } }
        router.post("/api/qk") { request, _ in try await answer { try json(await engine.qk(try await decode(request, limit))) } }
        router.post("/api/intervene") { request, _ in try await answer { try json(await engine.intervene(try await decode(request, limit))) } }
        router.get("/api/graph") { request, _ in
            try await answer {
                let query = request.uri.queryParameters
                let graph = try await engine.graph(try graphRequest { query.get($0) })
                let data = try JSONSerialization.data(withJSONObject: graph, options: [.sortedKeys])
                var headers: HTTPFields = [.contentType: "application/json"]
                if request.uri.queryParameters.get("download") == "1" { headers[.contentDisposition] = "attachment; filename=\"trace.json\"" }
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
            }
        }
        router.get("/dashboards/{layer}/{file}") { _, context in
            guard let layer = context.parameters.get("layer", as: Int.self), let file = context.parameters.get("file"),
                  let path = engine.dashboardPage(layer: layer, file: file), let data = FileManager.default.contents(atPath: path) else {
                throw HTTPError(.notFound, message: "no such dashboard: dashboards are served for the layers given with --dashboards, as /dashboards/LAYER/feature-N.html")
            }
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        return router
    }

    /// The server on `host:port` (port 0: any free one); `onStart` gets the address it listens on.
    public static func application(engine: ExplorerEngine, host: String, port: Int, onStart: @escaping @Sendable (String) async -> Void = { _ in })
        -> some ApplicationProtocol {
        var logger = Logger(label: "circuit-explorer")
        logger.logLevel = .warning
        return Application(router: router(engine: engine), configuration: .init(address: .hostname(host, port: port), serverName: "circuit-explorer"),
                           onServerRunning: { channel in
                               let port = channel.localAddress?.port ?? port
                               await onStart(host.contains(":") ? "http://[\(host)]:\(port)/" : "http://\(host):\(port)/")
                           }, logger: logger)
    }

    // MARK: Parts

    struct Info: Codable, ResponseEncodable {
        struct Example: Codable { let name: String, prompt: String }
        let model: String, saes: [String], maxPromptBytes: Int, maxTokens: Int
        let attentionLayers: [Int], residualLayers: [Int], dashboards: [Int]
        let examples: [Example]
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return e
    }()

    static func json(_ value: some Encodable) throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    /// The request's JSON body (at most `limit` bytes) as `T`; a 400 naming the field for anything else.
    static func decode<T: Decodable>(_ request: Request, _ limit: Int) async throws -> T {
        let body = try await request.body.collect(upTo: limit)
        do { return try JSONDecoder().decode(T.self, from: Data(buffer: body)) } catch let e as DecodingError {
            throw HTTPError(.badRequest, message: describe(e))
        }
    }

    /// A decoding error as a user reads it: which field, and what was wrong with it.
    static func describe(_ e: DecodingError) -> String {
        func path(_ c: DecodingError.Context) -> String { c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") }
        switch e {
        case .keyNotFound(let key, let c): return "missing field '\((path(c).isEmpty ? "" : path(c) + ".") + key.stringValue)'"
        case .typeMismatch(let type, let c): return "field '\(path(c))' is not \(type == String.self ? "a string" : type == Bool.self ? "a boolean" : type is any Numeric.Type ? "a number" : "\(type)")"
        case .valueNotFound(let type, let c): return "field '\(path(c))' is null; expected \(type)"
        case .dataCorrupted(let c): return c.codingPath.isEmpty ? "the body is not valid JSON" : "field '\(path(c))': \(c.debugDescription)"
        @unknown default: return "the body could not be read: \(e)"
        }
    }

    /// `GET /api/graph`'s query: `prompt`, `bos` (1/0), `roots` and `expanded` (comma-separated node ids),
    /// `maxChildren`, `threshold`, `qkEdges`, `featuresOnly` (1/0).
    static func graphRequest(_ get: (String) -> String?) throws -> GraphRequest {
        guard let prompt = get("prompt") else { throw HTTPError(.badRequest, message: "missing query parameter 'prompt'") }
        func list(_ name: String) -> [String] { (get(name) ?? "").split(separator: ",").map { String($0) } }
        func flag(_ name: String) throws -> Bool? {
            guard let v = get(name) else { return nil }
            switch v { case "1", "true": return true; case "0", "false": return false
            default: throw HTTPError(.badRequest, message: "query parameter '\(name)' is '\(v)'; allowed: 1, 0, true, false") }
        }
        func number<T: LosslessStringConvertible>(_ name: String, _: T.Type) throws -> T? {
            guard let v = get(name) else { return nil }
            guard let x = T(v) else { throw HTTPError(.badRequest, message: "query parameter '\(name)' is '\(v)'; expected a number") }
            return x
        }
        return GraphRequest(prompt: prompt, bos: try flag("bos"), roots: list("roots"), expanded: list("expanded"),
                            maxChildren: try number("maxChildren", Int.self), threshold: try number("threshold", Float.self),
                            qkEdges: try number("qkEdges", Int.self), featuresOnly: try flag("featuresOnly"))
    }

    /// Runs a handler, turning the library's typed errors into 4xx answers that name what is wrong.
    static func answer(_ body: () async throws -> Response) async throws -> Response {
        do { return try await body() }
        catch let e as ExplorerError { throw HTTPError(.init(code: e.status), message: e.message) }
        catch let e as TraceError { throw HTTPError(.badRequest, message: e.description) }
        catch let e as TraceOptionError { throw HTTPError(.badRequest, message: e.description) }
        catch let e as ExperimentInputError { throw HTTPError(.badRequest, message: e.description) }
    }
}

/// Headers on every answer: the page runs only its own script and style (no inline code, nothing from
/// elsewhere), is not framed, and no type is sniffed.
struct SecurityHeaders: RouterMiddleware {
    typealias Context = BasicRequestContext
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do { response = try await next(request, context) } catch let e as any HTTPResponseError {
            response = try e.response(from: request, context: context)
        }
        response.headers[.contentSecurityPolicy] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicyHeader] = "no-referrer"
        return response
    }
}

extension HTTPField.Name {
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
    static let referrerPolicyHeader = Self("Referrer-Policy")!
}
