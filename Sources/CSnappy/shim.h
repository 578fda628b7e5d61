// Shim for Snappy's C interface (Debian: libsnappy-dev, pkg-config "snappy"): Parquet's default codec.
#pragma once
#include <snappy-c.h>
