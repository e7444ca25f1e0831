/* ProcessPrng for wine 8 (Debian 12), which lacks bcryptprimitives.dll: Rust's standard library
 * takes its random numbers (HashMap seeds) from it on Windows 10 and later, so berth.exe does
 * not start without it. Real Windows has the DLL; this stand-in exists only in the wine prefix
 * the tests use, and forwards to advapi32's RtlGenRandom (SystemFunction036). */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
