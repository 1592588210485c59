/* SPDX-License-Identifier: MIT */
/*
 * The io_uring event loop used by mcstore-master and mcstored, as the
 * daemons see it: the loop with its timers and signals (uring/ring.h),
 * and the connections that carry mcstore frames over it (uring/conn.h).
 *
 * The files behind it:
 *   ring.c      the ring and the turn (submit, reap, hand each CQE to its
 *               operation), running and freeing the loop
 *   timer.c     timers as ring timeouts
 *   signal.c    signals through a signalfd
 *   listener.c  multishot accept, paused when descriptors run out
 *   stream.c    a stream socket on the ring: connect, one recv and one
 *               send in flight, closing (cancel, then finalize)
 * which know no protocol, and above them
 *   sendq.c     a connection's ordered send queue: coalescing, gathered
 *               SENDMSG, send_ref, SEND_ZC, fd passing
 *   conn.c      framed connections: frame reassembly, recv_into, on_frame
 *               and on_close, references; accepted sockets become them
 */
#ifndef MCS_LOOP_H
#define MCS_LOOP_H

#include "uring/conn.h"
#include "uring/ring.h"

#endif
