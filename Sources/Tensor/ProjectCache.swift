// ProjectCache: the one place that knows where the project keeps what it builds or fetches.

import Foundation

/// The cache folder: `$ATTN_SAE_CACHE`, or `~/.cache/attn-saes` (what `Scripts/setup` fills: the
/// tokenizer files, the default corpus, the planted model and its default SAE, the Python reference env).
package enum ProjectCache {
    package static var root: String {
        ProcessInfo.processInfo.environment["ATTN_SAE_CACHE"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/attn-saes").path
    }
}
