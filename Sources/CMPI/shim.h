// Shim for OpenMPI's C API (Debian: libopenmpi-dev, pkg-config "ompi-c").
// MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ... are macros that take the address of a global; Swift's
// ClangImporter cannot import them, so they are re-exported here as inline functions.
#pragma once
#include <mpi.h>

static inline MPI_Comm cmpi_comm_world(void)   { return MPI_COMM_WORLD; }
static inline MPI_Datatype cmpi_float(void)    { return MPI_FLOAT; }
static inline MPI_Datatype cmpi_double(void)   { return MPI_DOUBLE; }
static inline MPI_Datatype cmpi_int64(void)    { return MPI_INT64_T; }
static inline MPI_Datatype cmpi_byte(void)     { return MPI_BYTE; }
static inline MPI_Op cmpi_sum(void)            { return MPI_SUM; }
static inline MPI_Op cmpi_max(void)            { return MPI_MAX; }
static inline int cmpi_success(void)           { return MPI_SUCCESS; }
static inline void *cmpi_in_place(void)        { return MPI_IN_PLACE; }
static inline int cmpi_thread_funneled(void)   { return MPI_THREAD_FUNNELED; }
