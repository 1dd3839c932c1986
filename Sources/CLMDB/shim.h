#ifndef STOCKD_CLMDB_SHIM_H
#define STOCKD_CLMDB_SHIM_H
#include <lmdb.h>
#endif
