//! How the server gives memory back. glibc's allocator serves a block of 128 KiB or more
//! with its own `mmap`, returned to the system when freed, but it raises that threshold
//! (up to 32 MiB) each time such a block is freed. After the first sign-in, argon2's
//! 19 MiB working memory and the live feed's large frames were carved from the heap
//! arenas instead, and freed memory there stays resident: 500 sign-ins left the process at
//! 384 MB. With the threshold fixed at its default, the same 500 connected clients take
//! 24 MB (BENCHMARKS.md, "Memory").

/// Blocks at least this large get their own mapping, returned when freed (glibc's default).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Fixes the allocator's mmap threshold (glibc only; other allocators do not need it).
/// Call before the runtime starts its threads.
pub fn return_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only sets a tuning parameter of the allocator; it is called
        // once, before any other thread exists, with a valid parameter and value.
        let set = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
        if set != 1 {
            tracing::warn!("the allocator refused a fixed mmap threshold; memory may stay high");
        }
    }
}
