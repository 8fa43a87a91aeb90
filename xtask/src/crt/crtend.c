/* fastmusl's crtend.o (also installed as crtendS.o): see crtbegin.c. Empty
 * on purpose: nothing needs a terminator after the program's sections in a
 * musl static executable, but the link names the file. */
typedef int fastmusl_crtend_is_empty;
