// HubCache: hub ids resolved offline, in the folders the Python tools download into — the Hugging Face
// hub cache (`models--{org}--{name}/refs/main` → `snapshots/{revision}/…`, as `transformers` reads it
// with HF_HUB_OFFLINE=1), the `datasets` cache (`{org}___{name}/{config}/{version}/{hash}/*.arrow`),
// and SAELens's release ids of the SAEs this toolkit reads. Nothing is downloaded: a missing repository
// or file is an error saying what to download and with which command.

import Foundation
import Interp
import SparseAutoencoder

/// The Hugging Face caches on this machine.
public struct HubCache: Sendable {
    /// The hub cache: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`,
    /// else `~/.cache/huggingface/hub`.
    public var hubRoot: String
    /// The `datasets` cache: `$HF_DATASETS_CACHE`, else `$HF_HOME/datasets`, else
    /// `…/huggingface/datasets` beside the hub cache's default.
    public var datasetsRoot: String

    public enum Kind: String, Sendable { case model, dataset }

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let home = environment["HOME"] ?? NSHomeDirectory()
        let hfHome = environment["HF_HOME"] ?? ((environment["XDG_CACHE_HOME"] ?? home + "/.cache") + "/huggingface")
        hubRoot = environment["HF_HUB_CACHE"] ?? environment["HUGGINGFACE_HUB_CACHE"] ?? hfHome + "/hub"
        datasetsRoot = environment["HF_DATASETS_CACHE"] ?? hfHome + "/datasets"
    }

    public init(hubRoot: String, datasetsRoot: String) {
        self.hubRoot = hubRoot
        self.datasetsRoot = datasetsRoot
    }

    /// Whether `s` has the shape of a hub repository id (`gpt2`, `org/name`) rather than a path.
    public static func looksLikeRepoID(_ s: String) -> Bool {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !s.hasPrefix("."), !s.hasSuffix("/") else { return false }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        return parts.allSatisfy { p in !p.isEmpty && p.count <= 96 && p != "." && p != ".." && p.unicodeScalars.allSatisfy { allowed.contains($0) } }
    }

    /// The folder of repository `id` in the hub cache (whether or not it has snapshots).
    public func repositoryFolder(_ id: String, kind: Kind) -> String {
        hubRoot + "/" + kind.rawValue + "s--" + id.replacingOccurrences(of: "/", with: "--")
    }

    /// The command that downloads `files` of `id` (all of it when empty) into the cache.
    public static func downloadCommand(_ id: String, kind: Kind, files: [String] = []) -> String {
        "huggingface-cli download " + (kind == .dataset ? "--repo-type dataset " : "") + id + (files.isEmpty ? "" : " " + files.joined(separator: " "))
    }

    /// The snapshot folder of repository `id` at `revision` (a branch or tag named in `refs/`, or a
    /// commit hash), as `huggingface_hub` resolves it offline.
    /// - Throws: ``ExperimentInputError`` saying what to download when the repository or revision is not cached.
    public func snapshot(_ id: String, kind: Kind, revision: String = "main") throws -> String {
        let repo = repositoryFolder(id, kind: kind)
        let fm = FileManager.default
        guard fm.fileExists(atPath: repo) else {
            throw ExperimentInputError("hub \(kind.rawValue) '\(id)' is not a local path and is not in the Hugging Face cache (\(hubRoot)); "
                + "download it on a machine with internet (`\(Self.downloadCommand(id, kind: kind))`) and copy \((repo as NSString).lastPathComponent) into that folder, or set HF_HUB_CACHE / HF_HOME")
        }
        var commit = revision
        let ref = repo + "/refs/" + revision
        if let text = try? String(contentsOfFile: ref, encoding: .utf8) {
            commit = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else if !(revision.count == 40 && revision.allSatisfy(\.isHexDigit)) {
            throw ExperimentInputError("hub \(kind.rawValue) '\(id)' is cached (\(repo)) but has no ref '\(revision)' (\(ref) is missing); "
                + "download it again with `\(Self.downloadCommand(id, kind: kind))`")
        }
        guard commit.allSatisfy({ $0.isLetter || $0.isNumber }), !commit.isEmpty else {
            throw ExperimentInputError("\(ref) holds '\(commit)', not a commit hash")
        }
        let folder = repo + "/snapshots/" + commit
        guard fm.fileExists(atPath: folder) else {
            throw ExperimentInputError("hub \(kind.rawValue) '\(id)': \(ref) names snapshot \(commit), which is not in \(repo)/snapshots; "
                + "download it again with `\(Self.downloadCommand(id, kind: kind))`")
        }
        return folder
    }

    /// A file of a snapshot, which must exist (symbolic links to `blobs/` followed).
    public func file(_ name: String, of id: String, kind: Kind, revision: String = "main") throws -> String {
        let path = try snapshot(id, kind: kind, revision: revision) + "/" + name
        guard FileManager.default.fileExists(atPath: path) else {
            throw ExperimentInputError("hub \(kind.rawValue) '\(id)' is cached without \(name) (\(path) is missing or a broken link to blobs/); "
                + "download it with `\(Self.downloadCommand(id, kind: kind, files: [name]))`")
        }
        return path
    }

    // MARK: Datasets

    /// Where `datasets` keeps dataset `id` once prepared by `load_dataset` — the folder of its Arrow
    /// files (the train split's when there are several splits) — or, failing that, its hub snapshot
    /// (Parquet shards, JSON lines…). The folder's data files are the corpus.
    public func dataset(_ id: String) throws -> [String] {
        if let arrow = try preparedDataset(id) { return arrow }
        let snapshot: String
        do { snapshot = try self.snapshot(id, kind: .dataset) } catch {
            // The hub's Parquet conversion lives at revision refs/convert/parquet.
            guard let converted = try? self.snapshot(id, kind: .dataset, revision: "refs/convert/parquet") else {
                throw ExperimentInputError("dataset '\(id)' is not a local path, has no prepared copy in the datasets cache (\(datasetsRoot)) "
                    + "and is not in the hub cache (\(hubRoot)); on a machine with internet run `python -c \"import datasets; datasets.load_dataset('\(id)')\"` "
                    + "or `\(Self.downloadCommand(id, kind: .dataset))` and copy the cache here, or pass the files with --corpus")
            }
            snapshot = converted
        }
        // A repository's own documentation and loading scripts are not documents.
        let (files, _) = try CorpusSpec.expand(snapshot)
        let data = files.filter { f in
            let name = (f as NSString).lastPathComponent.lowercased()
            return !(name.hasPrefix("readme") || name.hasPrefix("license") || name.hasSuffix(".md") || name.hasSuffix(".py")
                     || name.hasSuffix(".yaml") || name == "dataset_infos.json" || name == "dataset_info.json")
        }
        guard !data.isEmpty else { throw ExperimentInputError("dataset '\(id)' is cached (\(snapshot)) without data files; download them with `\(Self.downloadCommand(id, kind: .dataset))`") }
        return data
    }

    /// The Arrow files `load_dataset(id)` left in the datasets cache, or nil when there are none.
    func preparedDataset(_ id: String) throws -> [String]? {
        let fm = FileManager.default
        let parts = id.split(separator: "/")
        let normalize = { (s: String) in s.lowercased().replacingOccurrences(of: "_", with: "") }
        let wanted = normalize(parts.joined())
        guard let entries = try? fm.contentsOfDirectory(atPath: datasetsRoot),
              let name = entries.first(where: { normalize($0) == wanted && (parts.count == 1 || $0.contains("___")) }) else { return nil }
        // Leaf folders (config/version/hash) holding Arrow files.
        var leaves: [String: [String]] = [:]
        let root = datasetsRoot + "/" + name
        guard let e = fm.enumerator(atPath: root) else { return nil }
        while let rel = e.nextObject() as? String {
            let file = (rel as NSString).lastPathComponent
            guard file.hasSuffix(".arrow"), !file.hasPrefix("cache-") else { continue }
            leaves[(rel as NSString).deletingLastPathComponent, default: []].append(root + "/" + rel)
        }
        guard !leaves.isEmpty else { return nil }
        guard leaves.count == 1, let files = leaves.first?.value.sorted() else {
            throw ExperimentInputError("dataset '\(id)' has \(leaves.count) prepared copies in \(root) (configs or versions): "
                + leaves.keys.sorted().joined(separator: ", ") + "; pass one folder with --corpus")
        }
        let train = files.filter { ($0 as NSString).lastPathComponent.contains("-train") }
        return train.isEmpty ? files : train
    }
}

/// A published SAE release as SAELens names it: the hub repository and, per layer, the file or folder.
public struct SAERelease: Sendable, Equatable {
    public let id: String
    public let repository: String
    /// The model's name on Neuronpedia and in SAELens.
    public let model: String
    /// Per layer: the `.pt` file (with its `_cfg.json` beside it) or the SAELens folder in the repository.
    public let paths: [Int: String]

    /// The releases of the paper's attention SAEs and of the residual SAEs the trace uses with them
    /// (file names as the repositories publish them and SAELens's `pretrained_saes.yaml` lists them).
    public static let known: [SAERelease] = [
        SAERelease(id: "gpt2-small-hook-z-kk", repository: "ckkissane/attn-saes-gpt2-small-all-layers", model: "gpt2-small",
                   paths: Dictionary(uniqueKeysWithValues: [
                       "l11.80e+00_ds24576_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v9", "l18.00e-01_ds24576_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v5",
                       "l11.00e+00_ds24576_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v4", "l19.00e-01_ds24576_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v9",
                       "l11.10e+00_ds24576_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v7", "l11.00e+00_ds49152_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v9",
                       "l11.10e+00_ds24576_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v9", "l11.10e+00_ds49152_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v9",
                       "l11.30e+00_ds24576_bs4096_dc1.00e-05_rsanthropic_rie25000_nr4_v6", "l11.20e+00_ds24576_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v9",
                       "l11.30e+00_ds24576_bs4096_dc1.00e-05_rsanthropic_rie25000_nr4_v9", "l13.00e+00_ds24576_bs4096_dc3.16e-06_rsanthropic_rie25000_nr4_v9",
                   ].enumerated().map { ($0.offset, "gpt2-small_L\($0.offset)_Hcat_z_lr1.20e-03_\($0.element).pt") })),
        SAERelease(id: "gpt2-small-res-jb", repository: "jbloom/GPT2-Small-SAEs-Reformatted", model: "gpt2-small",
                   paths: Dictionary(uniqueKeysWithValues: (0..<12).map { ($0, "blocks.\($0).hook_resid_pre") })),
    ]

    public static func named(_ id: String) -> SAERelease? { known.first { $0.id == id } }

    /// The files needing download for `layers` (a `.pt` and its `_cfg.json`, or a SAELens folder's files).
    func downloadFiles(_ layers: [Int]) -> [String] {
        layers.compactMap { paths[$0] }.flatMap { p in
            p.hasSuffix(".pt") ? [p, String(p.dropLast(3)) + "_cfg.json"] : [p + "/cfg.json", p + "/sae_weights.safetensors"]
        }
    }

    /// The local paths of `layers` (all when nil) in `cache`.
    /// - Throws: ``ExperimentInputError`` naming the repository, the files and the command when any is missing.
    public func localPaths(layers: [Int]? = nil, cache: HubCache = HubCache()) throws -> [String] {
        let wanted = layers ?? paths.keys.sorted()
        for l in wanted where paths[l] == nil {
            throw ExperimentInputError("release \(id) has no SAE for layer \(l); layers: 0…\(paths.keys.max() ?? 0)")
        }
        let snapshot: String
        do { snapshot = try cache.snapshot(repository, kind: .model) } catch {
            throw ExperimentInputError("SAE release \(id) (hub repository \(repository)) is not in the Hugging Face cache (\(cache.hubRoot)); "
                + "download it on a machine with internet: `\(HubCache.downloadCommand(repository, kind: .model, files: downloadFiles(wanted)))`")
        }
        let missing = downloadFiles(wanted).filter { !FileManager.default.fileExists(atPath: snapshot + "/" + $0) }
        guard missing.isEmpty else {
            throw ExperimentInputError("SAE release \(id) is cached (\(snapshot)) without \(missing.joined(separator: ", ")); "
                + "download with `\(HubCache.downloadCommand(repository, kind: .model, files: missing))`")
        }
        return wanted.map { snapshot + "/" + paths[$0]! }
    }
}

/// How an SAE is named on the command line: a local file or folder, a release id (all its layers, or
/// `layer`'s), a release with SAELens's SAE id (`gpt2-small-hook-z-kk/blocks.5.hook_z`), or a hub
/// repository in the cache (its snapshot folder, or the SAE of `layer` in it).
public enum SAEReference {
    /// The local paths `reference` names.
    /// - Throws: ``ExperimentInputError`` saying what is missing and how to download it.
    public static func resolve(_ reference: String, layer: Int? = nil, cache: HubCache = HubCache()) throws -> [String] {
        if FileManager.default.fileExists(atPath: reference) { return [reference] }
        if let release = SAERelease.named(reference) {
            return try release.localPaths(layers: layer.map { [$0] }, cache: cache)
        }
        let parts = reference.split(separator: "/", maxSplits: 1).map(String.init)
        if parts.count == 2, let release = SAERelease.named(parts[0]) {
            let fields = parts[1].split(separator: ".")
            guard fields.count >= 2, fields[0] == "blocks", let l = Int(fields[1]), release.paths[l] != nil else {
                throw ExperimentInputError("SAE id '\(parts[1])' is not one of release \(release.id)'s: blocks.L.\(release.paths[0]?.hasSuffix(".pt") == true ? "hook_z" : "hook_resid_pre") for L in 0…\(release.paths.keys.max() ?? 0)")
            }
            return try release.localPaths(layers: [l], cache: cache)
        }
        guard HubCache.looksLikeRepoID(reference) else {
            throw ExperimentInputError("SAE \(reference) does not exist: give a SAELens folder, the paper's .pt, a folder of them, a release id ("
                + SAERelease.known.map(\.id).joined(separator: ", ") + ") or a hub repository in the Hugging Face cache")
        }
        let folder: String
        do { folder = try cache.snapshot(reference, kind: .model) } catch let e as ExperimentInputError {
            throw ExperimentInputError("SAE \(reference) is not a local path, a release id (" + SAERelease.known.map(\.id).joined(separator: ", ") + ") or a cached repository: " + e.detail)
        }
        guard let layer else { return [folder] }
        let fm = FileManager.default
        let entries = ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).sorted()
        let matches = entries.filter { $0.contains("_L\(layer)_") && $0.hasSuffix(".pt") || $0.hasPrefix("blocks.\(layer).") }
        guard matches.count == 1 else {
            throw ExperimentInputError("\(reference) (\(folder)) has \(matches.isEmpty ? "no" : "\(matches.count)") SAE for layer \(layer) "
                + "(files named *_L\(layer)_*.pt or folders blocks.\(layer).*); give the file itself")
        }
        return [folder + "/" + matches[0]]
    }

    /// Loads the SAE at a local `path` in any format we read — a SAELens folder, or the paper's `.pt` with
    /// its `_cfg.json` (`cfg`, when not beside it) — without checking its hook or width.
    public static func load(_ path: String, cfg: String? = nil) throws -> SAE {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw ExperimentInputError("SAE \(path) does not exist") }
        return isDir.boolValue ? try SAE.load(saeLens: path) : try SAE.load(kissanePT: path, cfg: cfg)
    }

    /// The one SAE `reference` names (with `layer` for a release or repository of several).
    public static func resolveOne(_ reference: String, layer: Int? = nil, cache: HubCache = HubCache()) throws -> String {
        let paths = try resolve(reference, layer: layer, cache: cache)
        guard paths.count == 1 else {
            throw ExperimentInputError("\(reference) names \(paths.count) SAEs (one per layer); choose one with --layer")
        }
        return paths[0]
    }
}
