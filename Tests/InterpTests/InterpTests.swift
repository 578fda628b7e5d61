// InterpTests: unit tests of the Interp module; they arrive with its issue.
import Testing
@testable import Interp
