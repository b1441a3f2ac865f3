//! Bounds on what one template execution may cost, where Go has none: past them an execution
//! fails with an error naming the function or action, instead of taking the controller down.

/// Template calls plus nested pipelines deeper than this fail: Go allows 100000 template
/// calls on its growable stacks; ours are fixed (a tokio worker has 2 MiB).
pub(super) const MAX_DEPTH: usize = 100;

/// The work one execution may do, in steps and bytes: each action, range iteration and
/// function call is a step, and what functions return and the output are counted by size.
/// Go has no such limit: a template that doubles a string thirty times (`quote` of `quote`
/// of …) or nests ranges of a million runs until the controller runs out of memory or for
/// hours. A Secret holds at most 1 MiB, so 16 Mi is far more than any real template uses.
pub(super) const MAX_WORK: usize = 16 << 20;

/// The most bytes one function call may produce (`repeat`, `indent`): checked before the
/// result is made, which the execution's work limit ([`MAX_WORK`], the same size) could
/// only count after. Go has no limit and runs out of memory instead, taking the controller
/// down with one bad template.
pub(super) const MAX_OUTPUT: usize = MAX_WORK;

/// The most items one function call may produce (`until`), for the same reason.
pub(super) const MAX_ITEMS: u64 = 1 << 20;

/// The longest list `uniq` takes: it compares every item with every other, as Sprig's does.
pub(super) const MAX_UNIQ: usize = 10_000;
