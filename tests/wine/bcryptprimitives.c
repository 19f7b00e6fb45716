/*
 * A stand-in for Windows's bcryptprimitives.dll for Wine 8, which lacks it. Rust's standard
 * library (1.78 and later) imports ProcessPrng from it for its random numbers, so without this
 * every Rust executable stops at load (c0000135). The suite builds it with MinGW and puts it in
 * the fresh Wine prefix's system32; it is never shipped.
 *
 * ProcessPrng fills the buffer from RtlGenRandom (advapi32's SystemFunction036), which Wine has.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
