// MPICollective: the ranks of an `mpirun` launch as a `Collective` for data-parallel SAE training, through
// OpenMPI (Debian: libopenmpi-dev, openmpi-bin). A process started without mpirun is one rank and never
// touches MPI.

import CMPI
import Foundation
import SparseAutoencoder
import Tensor

/// An MPI failure, with the call and OpenMPI's message.
public struct MPIError: Error, CustomStringConvertible, Sendable {
    public let call: String, code: Int32, message: String
    public var description: String { "\(call) failed (\(code)): \(message)" }
}

/// `MPI_COMM_WORLD` as a ``Collective``: sums are `MPI_Allreduce` with `MPI_SUM`, which gives every rank
/// the same result (OpenMPI's reduction algorithms combine the ranks' values in an order fixed by the
/// communicator size and message length, and IEEE addition is commutative, so each rank's bits agree
/// and a rerun with the same ranks reproduces them).
public final class MPICollective: Collective, @unchecked Sendable {
    public let rank: Int
    public let size: Int

    /// Whether this process was started by `mpirun`/`mpiexec` (OpenMPI's, or another MPI's, launcher variables).
    public static var launchedByMPI: Bool {
        let env = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].contains { env[$0] != nil }
    }

    /// The world communicator when started by mpirun (initialising MPI), nil otherwise.
    public static func fromLaunch() throws -> MPICollective? {
        launchedByMPI ? try MPICollective() : nil
    }

    /// Initialises MPI (once per process) and reads this process's rank and the world's size.
    public init() throws {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            var provided: Int32 = 0
            try Self.check(MPI_Init_thread(nil, nil, cmpi_thread_funneled(), &provided), "MPI_Init_thread")
            atexit { var finalized: Int32 = 0; MPI_Finalized(&finalized); if finalized == 0 { MPI_Finalize() } }
        }
        var r: Int32 = 0, s: Int32 = 0
        try Self.check(MPI_Comm_rank(cmpi_comm_world(), &r), "MPI_Comm_rank")
        try Self.check(MPI_Comm_size(cmpi_comm_world(), &s), "MPI_Comm_size")
        rank = Int(r)
        size = Int(s)
    }

    static func check(_ code: Int32, _ call: String) throws {
        guard code != cmpi_success() else { return }
        var buffer = [CChar](repeating: 0, count: 1024)
        var length: Int32 = 0
        MPI_Error_string(code, &buffer, &length)
        let message = buffer.prefix(Int(max(0, min(length, 1024)))).map { UInt8(bitPattern: $0) }
        throw MPIError(call: call, code: code, message: String(decoding: message, as: UTF8.self))
    }

    /// Allreduce in pieces of at most 2³⁰ elements (MPI counts are 32-bit).
    private func allreduce(_ base: UnsafeMutableRawPointer?, count: Int, type: MPI_Datatype, itemSize: Int) throws {
        var done = 0
        while done < count {
            let n = min(count - done, 1 << 30)
            try Self.check(MPI_Allreduce(cmpi_in_place(), base! + done * itemSize, Int32(n), type, cmpi_sum(), cmpi_comm_world()), "MPI_Allreduce")
            done += n
        }
    }

    public func sum(_ values: UnsafeMutableBufferPointer<Float>) throws {
        try allreduce(UnsafeMutableRawPointer(values.baseAddress), count: values.count, type: cmpi_float(), itemSize: 4)
    }

    public func sum(_ values: UnsafeMutableBufferPointer<Double>) throws {
        try allreduce(UnsafeMutableRawPointer(values.baseAddress), count: values.count, type: cmpi_double(), itemSize: 8)
    }

    /// Stops every rank (after an error on one: the others would wait in the next sum forever).
    public func abort(_ code: Int32 = 1) -> Never {
        MPI_Abort(cmpi_comm_world(), code)
        exit(code)
    }
}
