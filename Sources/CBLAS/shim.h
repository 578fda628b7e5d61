// Shim for OpenBLAS's CBLAS interface (Debian: libopenblas-dev, pkg-config "openblas").
#pragma once
#include <cblas.h>

// LAPACK's symmetric eigensolver (divide and conquer), as OpenBLAS exports it (Fortran calling convention).
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info);
