// SparseAutoencoderTests: unit tests of the SparseAutoencoder module; they arrive with its issue.
import Testing
@testable import SparseAutoencoder
