#ifndef _SHIM_LINUX_RBTREE_H
#define _SHIM_LINUX_RBTREE_H
#include <linux/kernel.h>	/* container_of() */
/*
 * The rbtree interface mm/percpu.c used until April 2009 to find a chunk
 * by address (the first chunk is inserted at setup).  Simulated as a plain
 * binary search tree with parent links: the caller walks it and links a
 * node in as in the kernel, rb_insert_color() does not rebalance (colours
 * are not kept), so every lookup, predecessor and erase finds what the
 * kernel's would; only the tree's shape, never reported, differs.
 */
struct rb_node {
	struct rb_node *rb_parent, *rb_left, *rb_right;
};
struct rb_root { struct rb_node *rb_node; };
#define RB_ROOT ((struct rb_root){ NULL })
#define rb_entry(ptr, type, member) container_of(ptr, type, member)

static inline void rb_link_node(struct rb_node *node, struct rb_node *parent,
				struct rb_node **link)
{
	node->rb_parent = parent;
	node->rb_left = node->rb_right = NULL;
	*link = node;
}

static inline void rb_insert_color(struct rb_node *node, struct rb_root *root)
{
	(void)node; (void)root;
}

static inline struct rb_node *rb_prev(const struct rb_node *node)
{
	const struct rb_node *parent;

	if (node->rb_left) {
		node = node->rb_left;
		while (node->rb_right)
			node = node->rb_right;
		return (struct rb_node *)node;
	}
	while ((parent = node->rb_parent) && node == parent->rb_left)
		node = parent;
	return (struct rb_node *)parent;
}

static inline void shim_rb_replace_child(struct rb_node *old, struct rb_node *new,
					 struct rb_root *root)
{
	struct rb_node *parent = old->rb_parent;

	if (!parent)
		root->rb_node = new;
	else if (parent->rb_left == old)
		parent->rb_left = new;
	else
		parent->rb_right = new;
	if (new)
		new->rb_parent = parent;
}

static inline void rb_erase(struct rb_node *node, struct rb_root *root)
{
	struct rb_node *next;

	if (!node->rb_left || !node->rb_right) {
		shim_rb_replace_child(node, node->rb_left ? node->rb_left : node->rb_right, root);
		return;
	}
	/* two children: the in-order successor takes the node's place */
	next = node->rb_right;
	while (next->rb_left)
		next = next->rb_left;
	shim_rb_replace_child(next, next->rb_right, root);
	next->rb_left = node->rb_left;
	next->rb_right = node->rb_right;
	if (next->rb_left)
		next->rb_left->rb_parent = next;
	if (next->rb_right)
		next->rb_right->rb_parent = next;
	shim_rb_replace_child(node, next, root);
}
#endif
