use super::*;

/// A listing built key by key, each write at a new index, as Consul would list it.
#[derive(Default)]
struct Tree {
    pairs: Vec<KvPair>,
    index: u64,
}

impl Tree {
    fn set(&mut self, key: &str, value: &str) -> &mut Self {
        self.index += 1;
        let key = format!("traefik/{key}");
        self.pairs.retain(|p| p.key != key);
        self.pairs.push(KvPair::new(&key, value, self.index));
        self.pairs.sort_by(|a, b| a.key.cmp(&b.key));
        self
    }

    fn lock(&mut self, session: &str) -> &mut Self {
        self.set("_commit/lock", "control config apply big.yml (pid 1)");
        let lock = self
            .pairs
            .iter_mut()
            .find(|p| p.key.ends_with("_commit/lock"))
            .unwrap();
        lock.session = Some(session.into());
        self
    }

    fn delete(&mut self, key: &str) -> &mut Self {
        self.index += 1;
        self.pairs.retain(|p| p.key != format!("traefik/{key}"));
        self
    }

    fn clear(&mut self) -> &mut Self {
        self.pairs.clear();
        self
    }

    fn generation_index(&self) -> u64 {
        self.pairs
            .iter()
            .find(|p| p.key == "traefik/_commit/generation")
            .map_or(0, |p| p.modify_index)
    }

    /// What `control config apply` writes in its last transaction.
    fn commit(&mut self, generation: u64) -> &mut Self {
        let parent = match self.generation_index() {
            0 => NO_PARENT.to_string(),
            index => index.to_string(),
        };
        self.set("_commit/parent", &parent);
        self.set("_commit/generation", &generation.to_string());
        self.delete("_commit/pending").delete("_commit/lock")
    }
}

fn applies(guard: &mut CommitGuard, tree: &Tree) -> bool {
    matches!(guard.judge(&tree.pairs), Decision::Apply { .. })
}

fn held(guard: &mut CommitGuard, tree: &Tree) -> (String, bool) {
    match guard.judge(&tree.pairs) {
        Decision::Hold { hold, changed } => (hold.describe("traefik"), changed),
        other => panic!("expected a hold, got {other:?}"),
    }
}

#[test]
fn hand_edited_trees_apply_at_once_but_not_an_emptied_one() {
    let mut guard = CommitGuard::new("traefik");
    let mut tree = Tree::default();
    tree.set("http/routers/a/rule", "Path(`/a`)");
    assert!(applies(&mut guard, &tree));
    tree.set("http/routers/a/rule", "Path(`/b`)");
    assert!(applies(&mut guard, &tree), "an edit by hand applies");
    tree.clear();
    assert_eq!(
        held(&mut guard, &tree),
        ("Consul's traefik/ tree is empty".into(), true)
    );
    assert!(!held(&mut guard, &tree).1, "reported once");
    tree.set("http/routers/a/rule", "Path(`/a`)");
    assert_eq!(
        guard.judge(&tree.pairs),
        Decision::Apply {
            released: Some(Hold::Empty)
        },
        "keys again: applied"
    );
    assert_eq!(guard.live_generation(), None);
}

#[test]
fn a_change_in_progress_is_held_until_its_commit() {
    let mut guard = CommitGuard::new("traefik");
    let mut tree = Tree::default();
    tree.set("http/routers/a/rule", "Path(`/a`)").commit(1);
    assert!(applies(&mut guard, &tree));
    assert_eq!(guard.live_generation(), Some(1));
    tree.set("_commit/pending", "2").lock("s-1");
    let (message, changed) = held(&mut guard, &tree);
    assert!(changed);
    assert_eq!(
        message,
        "an apply is writing generation 2 to traefik/ (control config apply big.yml (pid 1), session s-1)"
    );
    tree.set("http/routers/b/rule", "Path(`/b`)");
    assert!(
        !held(&mut guard, &tree).1,
        "the same hold is not reported again"
    );
    tree.commit(2);
    assert!(matches!(
        guard.judge(&tree.pairs),
        Decision::Apply {
            released: Some(Hold::Writing { .. })
        }
    ));
    assert_eq!(guard.live_generation(), Some(2));
}

#[test]
fn a_pending_change_whose_lock_is_gone_is_abandoned_until_the_next_commit() {
    let mut guard = CommitGuard::new("traefik");
    let mut tree = Tree::default();
    tree.set("http/routers/a/rule", "Path(`/a`)").commit(1);
    assert!(applies(&mut guard, &tree));
    tree.set("_commit/pending", "2").lock("s-1");
    tree.set("http/routers/b/rule", "Path(`/b`)");
    assert!(held(&mut guard, &tree).1);
    // The writer died: its session expired and deleted the lock.
    tree.delete("_commit/lock");
    let (message, changed) = held(&mut guard, &tree);
    assert!(changed, "a new state is reported");
    assert!(
        message.starts_with("the apply of generation 2 to traefik/ was abandoned half way"),
        "{message}"
    );
    // The next apply recovers: it writes the whole change and commits.
    tree.set("http/routers/c/rule", "Path(`/c`)").commit(2);
    assert!(applies(&mut guard, &tree));
}

#[test]
fn a_rolled_back_generation_is_held_until_a_commit_on_top_of_it() {
    let mut guard = CommitGuard::new("traefik");
    let mut tree = Tree::default();
    tree.set("http/routers/a/rule", "Path(`/a`)");
    for generation in 1..=7 {
        tree.commit(generation);
    }
    assert!(applies(&mut guard, &tree));
    tree.set("_commit/generation", "3");
    assert_eq!(
        held(&mut guard, &tree),
        ("traefik/_commit/generation went from 7 to 3".into(), true)
    );
    tree.set("http/routers/a/rule", "Path(`/edited`)");
    assert!(
        !held(&mut guard, &tree).1,
        "edits by hand do not release it"
    );
    tree.commit(4);
    assert!(applies(&mut guard, &tree), "a commit made on the held tree");
    assert_eq!(guard.live_generation(), Some(4));
}

#[test]
fn a_vanished_or_bad_generation_is_held() {
    let mut guard = CommitGuard::new("traefik");
    let mut tree = Tree::default();
    tree.set("http/routers/a/rule", "Path(`/a`)")
        .commit(1)
        .commit(2);
    assert!(applies(&mut guard, &tree));
    tree.set("_commit/generation", "two");
    assert_eq!(
        held(&mut guard, &tree).0,
        "traefik/_commit/generation is \"two\", not a number"
    );
    tree.delete("_commit/generation");
    assert_eq!(
        held(&mut guard, &tree),
        ("traefik/_commit/generation vanished".into(), true)
    );
    tree.commit(1);
    assert!(
        applies(&mut guard, &tree),
        "a commit on a tree without generation"
    );
}

#[test]
fn a_restarted_empty_consul_is_held_until_a_new_commit() {
    let mut guard = CommitGuard::new("traefik");
    let mut tree = Tree::default();
    tree.set("http/routers/a/rule", "Path(`/a`)");
    for generation in 1..=7 {
        tree.commit(generation);
    }
    assert!(applies(&mut guard, &tree));
    let mut fresh = Tree::default();
    assert_eq!(
        held(&mut guard, &fresh),
        ("Consul's traefik/ tree is empty".into(), true)
    );
    // A large apply to the fresh agent: first its pending mark and some keys...
    fresh
        .set("_commit/pending", "1")
        .lock("s-2")
        .set("http/routers/b/rule", "Path(`/b`)");
    assert!(held(&mut guard, &fresh)
        .0
        .starts_with("an apply is writing generation 1"));
    fresh.commit(1);
    assert!(applies(&mut guard, &fresh), "then its commit");
    assert_eq!(guard.live_generation(), Some(1));
}

#[test]
fn the_tree_in_service_coming_back_or_a_higher_generation_releases() {
    let mut guard = CommitGuard::new("traefik");
    let mut tree = Tree::default();
    tree.set("http/routers/a/rule", "Path(`/a`)")
        .commit(1)
        .commit(2);
    assert!(applies(&mut guard, &tree));
    assert!(held(&mut guard, &Tree::default()).1);
    assert!(applies(&mut guard, &tree), "the same commit is back");

    let mut restored = Tree::default();
    restored
        .set("http/routers/a/rule", "Path(`/old`)")
        .commit(1);
    assert_eq!(
        held(&mut guard, &restored).0,
        "traefik/_commit/generation went from 2 to 1"
    );
    restored.set("_commit/generation", "5");
    assert!(applies(&mut guard, &restored), "a higher generation");
}

#[test]
fn nothing_in_service_means_nothing_to_protect() {
    let mut guard = CommitGuard::new("traefik");
    assert!(applies(&mut guard, &Tree::default()));
    let mut tree = Tree::default();
    tree.set("_commit/generation", "3");
    assert!(applies(&mut guard, &tree));
}
