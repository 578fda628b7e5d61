// The page and its assets, compiled into the binary (SwiftPM's embedInCode resources): nothing to install
// beside the executable, nothing fetched from elsewhere.

enum ExplorerAssets {
    static let indexHTML = String(decoding: PackageResources.index_html, as: UTF8.self)
    static let script = String(decoding: PackageResources.explorer_js, as: UTF8.self)
    static let style = String(decoding: PackageResources.explorer_css, as: UTF8.self)
}
