/* Test-only stand-in for Windows' bcryptprimitives.dll under older Wine
 * (Debian 12's Wine 8 lacks it): Rust's std asks it for ProcessPrng; this
 * forwards to BCryptGenRandom. Never shipped; see make-stub.sh. */
#include <windows.h>
#include <bcrypt.h>
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    return BCryptGenRandom(NULL, data, (ULONG)len, BCRYPT_USE_SYSTEM_PREFERRED_RNG) == 0;
}
