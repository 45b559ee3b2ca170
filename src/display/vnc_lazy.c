/*
 * libvncserver, loaded when the first VNC server starts (util/lazy_lib.h): the functions
 * vnc.c calls, with the library's prototypes. vnc_server_start loads it first
 * (vnc_lazy_load) and every other call takes a screen or client the library made, so
 * they call through without checking again. rfbLog and rfbErr are the library's
 * variables, set here rather than by name in vnc.c.
 */
#include "display/vnc_lazy.h"

#include "util/lazy_lib.h"

#define VNC_SYMBOLS(X)                                                                      \
    X(rfbGetScreen) X(rfbScreenCleanup) X(rfbInitServer) X(rfbShutdownServer)               \
    X(rfbProcessEvents) X(rfbNewClient) X(rfbNewFramebuffer) X(rfbSetCursor)                \
    X(rfbMarkRectAsModified) X(rfbGetClientIterator) X(rfbClientIteratorNext)              \
    X(rfbReleaseClientIterator) X(rfbCheckPasswordByList) X(rfbCloseClient)                \
    X(rfbWriteExact) X(rfbSendServerCutTextUTF8) X(rfbLog) X(rfbErr)

#define AS_INDEX(f) I_##f,
enum { VNC_SYMBOLS(AS_INDEX) N_SYMBOLS };
static const char *const names[] = {VNC_SYMBOLS(LAZY_LIB_NAME) NULL};
static void *fns[N_SYMBOLS];
static struct lazy_lib lib = LAZY_LIB("libvncserver.so.1", "libvncserver1", names, fns);

#define F(f) ((__typeof__(&f))fns[I_##f])

const char *vnc_lazy_load(rfbLogProc log)
{
    if (!lazy_lib_load(&lib))
        return lib.error;
    *(rfbLogProc *)fns[I_rfbLog] = log;
    *(rfbLogProc *)fns[I_rfbErr] = log;
    return NULL;
}

rfbScreenInfoPtr rfbGetScreen(int *argc, char **argv, int width, int height, int bps, int spp,
                              int bpp)
{
    return F(rfbGetScreen)(argc, argv, width, height, bps, spp, bpp);
}

void rfbScreenCleanup(rfbScreenInfoPtr s)
{
    F(rfbScreenCleanup)(s);
}

void rfbInitServer(rfbScreenInfoPtr s)
{
    F(rfbInitServer)(s);
}

void rfbShutdownServer(rfbScreenInfoPtr s, rfbBool disconnect)
{
    F(rfbShutdownServer)(s, disconnect);
}

rfbBool rfbProcessEvents(rfbScreenInfoPtr s, long usec)
{
    return F(rfbProcessEvents)(s, usec);
}

rfbClientPtr rfbNewClient(rfbScreenInfoPtr s, rfbSocket sock)
{
    return F(rfbNewClient)(s, sock);
}

void rfbNewFramebuffer(rfbScreenInfoPtr s, char *fb, int width, int height, int bps, int spp,
                       int bpp)
{
    F(rfbNewFramebuffer)(s, fb, width, height, bps, spp, bpp);
}

void rfbSetCursor(rfbScreenInfoPtr s, rfbCursorPtr c)
{
    F(rfbSetCursor)(s, c);
}

void rfbMarkRectAsModified(rfbScreenInfoPtr s, int x1, int y1, int x2, int y2)
{
    F(rfbMarkRectAsModified)(s, x1, y1, x2, y2);
}

rfbClientIteratorPtr rfbGetClientIterator(rfbScreenInfoPtr s)
{
    return F(rfbGetClientIterator)(s);
}

rfbClientPtr rfbClientIteratorNext(rfbClientIteratorPtr it)
{
    return F(rfbClientIteratorNext)(it);
}

void rfbReleaseClientIterator(rfbClientIteratorPtr it)
{
    F(rfbReleaseClientIterator)(it);
}

rfbBool rfbCheckPasswordByList(rfbClientPtr cl, const char *response, int len)
{
    return F(rfbCheckPasswordByList)(cl, response, len);
}

void rfbCloseClient(rfbClientPtr cl)
{
    F(rfbCloseClient)(cl);
}

int rfbWriteExact(rfbClientPtr cl, const char *buf, int len)
{
    return F(rfbWriteExact)(cl, buf, len);
}

void rfbSendServerCutTextUTF8(rfbScreenInfoPtr s, char *str, int len, char *latin1, int latin1_len)
{
    F(rfbSendServerCutTextUTF8)(s, str, len, latin1, latin1_len);
}
