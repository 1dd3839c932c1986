#if canImport(Glibc)
import Glibc
#endif

/// Asks the kernel to back a dictionary's hash table with transparent huge pages.
///
/// A replay of a large catalogue looks up a random pair per event: with 4 KiB pages nearly every
/// lookup also misses the TLB (100,000 pairs take ~30 MB of keys and values). Call it right after
/// `reserveCapacity`, before the table is filled: pages touched later are then faulted in as 2 MiB
/// pages where the kernel allows it (THP `madvise` mode). Only advice: it changes no value, and
/// does nothing when the table is not a native allocation of its own.
func adviseHugePages<Key, Value>(forTableOf dictionary: [Key: Value]) {
    #if os(Linux)
    // A native Swift dictionary is one reference to its storage object, which holds the bitmap,
    // keys and values in one malloc'd block. An empty one shares a static object: leave that alone.
    guard dictionary.capacity > 0, MemoryLayout<[Key: Value]>.size == MemoryLayout<UnsafeRawPointer>.size else { return }
    guard let usableSize = mallocUsableSize else { return }
    let start = unsafeBitCast(dictionary, to: UnsafeMutableRawPointer.self)
    let bytes = usableSize(start)
    let hugePage = 2 << 20
    let first = (Int(bitPattern: start) + hugePage - 1) & ~(hugePage - 1)
    let end = (Int(bitPattern: start) + bytes) & ~(hugePage - 1)
    guard end > first, let from = UnsafeMutableRawPointer(bitPattern: first) else { return }
    _ = madvise(from, end - first, MADV_HUGEPAGE)
    withExtendedLifetime(dictionary) {}
    #endif
}

#if os(Linux)
/// glibc's `malloc_usable_size`, which the Glibc module does not import (it is in <malloc.h>).
private let mallocUsableSize: (@convention(c) (UnsafeMutableRawPointer?) -> Int)? = {
    guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "malloc_usable_size") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutableRawPointer?) -> Int).self)
}()
#endif
