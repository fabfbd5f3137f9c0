/*
 * daemon/loop.c — the pieces of the event loop the daemon's parts share:
 * epoll registration, the deadline timer.
 */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>

#include "daemon/alegated.h"

void agd_init(struct agd *d)
{
	d->control.listen_fd = d->epfd = d->timerfd = d->sigfd = d->fastpath.fwwatch_fd = -1;
	d->life.pid_fd = -1;
	d->complete_fd = -1;
	d->control.gid = (gid_t)-1;
	d->privs.fw_sock = -1;
	d->privs.fw_pid = -1;
	d->timer_at = UINT64_MAX;
}

int agd_loop_add(struct agd *d, int fd, uint32_t events, void *tag)
{
	struct epoll_event ev = { .events = events, .data.ptr = tag };

	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		return -errno;
	return 0;
}

int agd_loop_mod(struct agd *d, int fd, uint32_t events, void *tag)
{
	struct epoll_event ev = { .events = events, .data.ptr = tag };

	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &ev) == -1)
		return -errno;
	return 0;
}

void agd_loop_del(struct agd *d, int fd)
{
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
}

void agd_timer_update(struct agd *d)
{
	uint64_t next = ag_engine_next_deadline(d->engine);
	struct itimerspec its = { 0 };

	/* Most loop turns leave the next deadline where it was: no syscall. */
	if (next == d->timer_at)
		return;
	d->timer_at = next;
	if (next != UINT64_MAX) {
		/* 0 would disarm: an overdue deadline fires in a nanosecond */
		if (next == 0)
			next = 1;
		its.it_value.tv_sec = (time_t)(next / 1000000000ULL);
		its.it_value.tv_nsec = (long)(next % 1000000000ULL);
	}
	timerfd_settime(d->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}
