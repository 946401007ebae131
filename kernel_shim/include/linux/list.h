#ifndef _SHIM_LINUX_LIST_H
#define _SHIM_LINUX_LIST_H
#include <linux/kernel.h>
/* A plain circular doubly linked list with the kernel's interface. */
struct list_head { struct list_head *next, *prev; };
#define LIST_HEAD_INIT(name) { &(name), &(name) }
#define LIST_HEAD(name) struct list_head name = LIST_HEAD_INIT(name)
static inline void INIT_LIST_HEAD(struct list_head *h) { h->next = h; h->prev = h; }
static inline void shim_list_link(struct list_head *n, struct list_head *prev, struct list_head *next)
{ next->prev = n; n->next = next; n->prev = prev; prev->next = n; }
static inline void list_add(struct list_head *n, struct list_head *head) { shim_list_link(n, head, head->next); }
static inline void list_add_tail(struct list_head *n, struct list_head *head) { shim_list_link(n, head->prev, head); }
static inline void shim_list_unlink(struct list_head *e) { e->next->prev = e->prev; e->prev->next = e->next; }
static inline void list_del(struct list_head *e) { shim_list_unlink(e); e->next = e->prev = NULL; }
static inline void list_del_init(struct list_head *e) { shim_list_unlink(e); INIT_LIST_HEAD(e); }
static inline void list_move(struct list_head *e, struct list_head *head) { shim_list_unlink(e); list_add(e, head); }
static inline void list_move_tail(struct list_head *e, struct list_head *head) { shim_list_unlink(e); list_add_tail(e, head); }
static inline int list_empty(const struct list_head *h) { return h->next == h; }
#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_first_entry(ptr, type, member) list_entry((ptr)->next, type, member)
#define list_for_each(pos, head) for (pos = (head)->next; pos != (head); pos = pos->next)
#define list_for_each_entry(pos, head, member)						\
	for (pos = list_entry((head)->next, __typeof__(*pos), member);			\
	     &pos->member != (head); pos = list_entry(pos->member.next, __typeof__(*pos), member))
#define list_for_each_entry_safe(pos, n, head, member)					\
	for (pos = list_entry((head)->next, __typeof__(*pos), member),			\
	     n = list_entry(pos->member.next, __typeof__(*pos), member);		\
	     &pos->member != (head);							\
	     pos = n, n = list_entry(n->member.next, __typeof__(*n), member))
#endif
