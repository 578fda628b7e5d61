// TransformerTests: unit tests of the Transformer module; they arrive with its issue.
import Testing
@testable import Transformer
