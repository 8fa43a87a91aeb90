/* fastmusl's crtbegin.o (also installed as crtbeginS.o and crtbeginT.o).
 *
 * A static link of a Rust program names crtbegin.o and crtend.o around its
 * objects. rustup's rust-std brings its own (in `self-contained/`), and the
 * linker wrapper leaves those alone; where there is no rust-std (a target
 * built with -Zbuild-std), rustc names bare `crtbegin.o`/`crtend.o` and the
 * wrapper points them here.
 *
 * In a musl static executable they have one job left: constructors and
 * destructors are in .init_array/.fini_array, which musl's
 * __libc_start_init and exit() walk themselves; .eh_frame is found through
 * PT_GNU_EH_FRAME (rustc passes --eh-frame-hdr), not a registry. What stays
 * is __dso_handle: the "current module" that __cxa_atexit and
 * __cxa_thread_atexit_impl receive from C++ code and Rust's thread-local
 * destructors. */
void *__dso_handle __attribute__((visibility("hidden"))) = &__dso_handle;
