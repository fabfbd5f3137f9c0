/*
 * text.h — making text from elsewhere (a peer, a rule file, a process's
 * name) safe to print on a terminal or in a log.
 */
#ifndef ALEGATE_BASE_TEXT_H
#define ALEGATE_BASE_TEXT_H

/*
 * ag_sanitize — replace, in place, every byte a terminal would act on with
 * '?': C0 controls (0x00..0x1f), DEL (0x7f) and the C1 controls U+0080..
 * U+009F in their UTF-8 form (0xc2 0x80..0x9f, both bytes replaced; CSI is
 * U+009B).  Returns s.  NULL is returned as NULL, so a failed allocation
 * passes through: ag_sanitize(strdup(x)).
 */
char *ag_sanitize(char *s);

#endif
