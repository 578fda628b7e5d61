// Section: one part of the paper's analysis — run in a workspace, it writes its page and data into a
// folder and returns the page and its finding in one line. `reproduce` runs them all into one site
// (ReportSite); each section executable runs one alone.

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

/// The sections of the report site, named as their executables.
public enum ReportSection: String, CaseIterable, Codable, Sendable {
    case trainSAE = "train-sae"
    case inductionFeatures = "induction-features"
    case featureDashboards = "feature-dashboards"
    case inductionDeepDive = "induction-deep-dive"
    case topFeatures = "top-features"
    case longPrefixInduction = "long-prefix-induction"
    case ioiCircuit = "ioi-circuit"
    case circuitTrace = "circuit-trace"

    /// The part of the paper the section reproduces.
    public var paper: String {
        switch self {
        case .trainSAE: "Table 2"
        case .inductionFeatures: "§4.2"
        case .featureDashboards: "§3, dashboards"
        case .inductionDeepDive: "Fig. 2"
        case .topFeatures: "§4.1"
        case .longPrefixInduction: "Fig. 4, Fig. 19"
        case .ioiCircuit: "Fig. 16a, Fig. 5"
        case .circuitTrace: "recursive DFA (the authors' circuit explorer)"
        }
    }

    /// The section's folder in the report site.
    public var folder: String { self == .longPrefixInduction ? "long-prefix" : rawValue }
}

/// What a section produced.
public struct SectionOutcome: Sendable {
    /// The page, relative to the section's folder (nil when the section had nothing to show).
    public var page: String?
    /// The finding in one line (plain text).
    public var headline: String
    public init(page: String?, headline: String) { self.page = page; self.headline = headline }
}

/// Where a section writes and how its pages link to the rest of the site.
public struct SectionOutput {
    public let folder: ReportFolder
    /// The link from the section's page to the site's index (nil when the section runs alone).
    public let up: String?
    /// The link from the section's folder to a feature's dashboard, when the site has one.
    public let featurePage: (Int) -> String?

    public init(folder: ReportFolder, up: String? = nil, featurePage: @escaping (Int) -> String? = { _ in nil }) {
        self.folder = folder; self.up = up; self.featurePage = featurePage
    }
}

/// A part of the paper's analysis.
public protocol Section {
    static var id: ReportSection { get }
    /// Runs in `workspace`, writes the page and its data into `output`, and returns what it found.
    func run(in workspace: Workspace, output: SectionOutput) throws -> SectionOutcome
}

extension Section {
    /// Runs the section alone into the folder `path` (its page is `path/index.html`), logs its finding
    /// and the page's absolute path, and returns that path.
    @discardableResult
    public func runAlone(in workspace: Workspace, output path: String) throws -> String {
        let outcome = try run(in: workspace, output: SectionOutput(folder: try ReportFolder(path)))
        workspace.log(outcome.headline)
        guard let page = outcome.page else { return "" }
        let full = URL(fileURLWithPath: path + "/" + page).standardizedFileURL.path
        workspace.log("report: \(full)")
        return full
    }
}

/// A section the site leaves out for this model, saying why (its finding is "not run: <reason>").
struct NotRun<S: Section>: Section {
    static var id: ReportSection { S.id }
    let reason: String
    func run(in workspace: Workspace, output: SectionOutput) throws -> SectionOutcome {
        SectionOutcome(page: nil, headline: "not run: " + reason)
    }
}
