//! The object store: every object as its serialised JSON plus a small parsed index, in persistent
//! ordered maps (O(1) snapshots for consistent paging), one resourceVersion counter shared by all
//! resources (like an etcd revision), a bounded event log for watches, and an optional write-ahead
//! log for durability.

pub mod persist;
pub(crate) mod time;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::watch;

use persist::Wal;

/// Resource identity in the store: `group/plural`.
pub type ResKey = Arc<str>;

/// Position of an object: namespace (empty for cluster-scoped) and name. Ordered like etcd keys.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjKey {
    /// Namespace, empty for cluster-scoped objects.
    pub ns: String,
    /// Name.
    pub name: String,
}

impl ObjKey {
    /// Builds a key.
    pub fn new(ns: impl Into<String>, name: impl Into<String>) -> ObjKey {
        ObjKey {
            ns: ns.into(),
            name: name.into(),
        }
    }
}

/// An owner reference as indexed for garbage collection (only what the collector needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRef {
    /// Owner uid.
    pub uid: Box<str>,
    /// `controller: true`.
    pub controller: bool,
    /// `blockOwnerDeletion: true`.
    pub block: bool,
}

/// An object's labels, compactly: sorted key/value pairs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Labels(Box<[(Box<str>, Box<str>)]>);

impl Labels {
    /// Builds from pairs (sorted here).
    pub fn from_pairs(mut pairs: Vec<(Box<str>, Box<str>)>) -> Labels {
        pairs.sort();
        Labels(pairs.into_boxed_slice())
    }

    /// The value of a label.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| &*self.0[i].1)
    }
}

/// One stored object version.
#[derive(Debug)]
pub struct StoredObject {
    /// The object as compact JSON, at the storage version, with its resourceVersion.
    pub json: Bytes,
    /// resourceVersion.
    pub rv: u64,
    /// metadata.uid.
    pub uid: String,
    /// metadata.namespace.
    pub ns: String,
    /// metadata.name.
    pub name: String,
    /// metadata.labels.
    pub labels: Labels,
    /// metadata.ownerReferences.
    pub owners: Vec<OwnerRef>,
    /// Whether metadata.deletionTimestamp is set.
    pub deleting: bool,
    /// metadata.finalizers.
    pub finalizers: Vec<String>,
}

impl StoredObject {
    /// Indexes a JSON object (which must already carry its resourceVersion).
    pub fn build(v: &Value, rv: u64) -> StoredObject {
        let meta = v.get("metadata");
        let s = |k: &str| {
            meta.and_then(|m| m.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let labels = Labels::from_pairs(
            meta.and_then(|m| m.get("labels"))
                .and_then(Value::as_object)
                .map(|l| {
                    l.iter()
                        .map(|(k, v)| (Box::from(k.as_str()), Box::from(v.as_str().unwrap_or(""))))
                        .collect()
                })
                .unwrap_or_default(),
        );
        let owners = meta
            .and_then(|m| m.get("ownerReferences"))
            .and_then(Value::as_array)
            .map(|refs| {
                refs.iter()
                    .map(|r| OwnerRef {
                        uid: Box::from(r.get("uid").and_then(Value::as_str).unwrap_or("")),
                        controller: r.get("controller").and_then(Value::as_bool).unwrap_or(false),
                        block: r
                            .get("blockOwnerDeletion")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let finalizers = meta
            .and_then(|m| m.get("finalizers"))
            .and_then(Value::as_array)
            .map(|f| f.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        let mut json = serde_json::to_vec(v).unwrap_or_default();
        // Serialising grows the buffer by doubling; keep only what is used, the store holds
        // every object for its lifetime.
        json.shrink_to_fit();
        StoredObject {
            json: Bytes::from(json),
            rv,
            uid: s("uid"),
            ns: s("namespace"),
            name: s("name"),
            labels,
            owners,
            deleting: meta
                .and_then(|m| m.get("deletionTimestamp"))
                .is_some_and(|d| !d.is_null()),
            finalizers,
        }
    }

    /// The object as a JSON value.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }

    /// A copy without the body, for watch history where only metadata is needed.
    pub fn meta_only(&self) -> StoredObject {
        StoredObject {
            json: Bytes::new(),
            rv: self.rv,
            uid: self.uid.clone(),
            ns: self.ns.clone(),
            name: self.name.clone(),
            labels: self.labels.clone(),
            owners: self.owners.clone(),
            deleting: self.deleting,
            finalizers: self.finalizers.clone(),
        }
    }

    /// Its key.
    pub fn key(&self) -> ObjKey {
        ObjKey::new(self.ns.clone(), self.name.clone())
    }
}

/// A snapshot of one resource's objects.
pub type Table = imbl::OrdMap<ObjKey, Arc<StoredObject>>;

/// Watch event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
}

/// One change, as kept in the event log.
#[derive(Debug)]
pub struct Event {
    /// The resourceVersion of the change.
    pub rv: u64,
    /// Which resource.
    pub res: ResKey,
    /// What happened.
    pub ty: EventType,
    /// The object after the change (for deletes: its last state, at the delete's resourceVersion).
    pub obj: Arc<StoredObject>,
    /// The object before the change (metadata only, unless the resource's watches need its
    /// body to evaluate field selectors).
    pub prev: Option<Arc<StoredObject>>,
}

/// What a commit requires of the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// The object must not exist (create).
    MustNotExist,
    /// The object must exist at exactly this resourceVersion.
    Rv(u64),
    /// The object must exist.
    Exists,
}

/// Why a commit did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitError {
    /// The object already exists.
    AlreadyExists,
    /// The object does not exist.
    NotFound,
    /// The object changed since it was read.
    Conflict,
    /// The write-ahead log could not be written; nothing was changed.
    Storage,
}

/// A write to commit.
#[derive(Debug)]
pub enum Write {
    /// Store this object (its resourceVersion is filled in).
    Put(Value),
    /// Remove the object; the event carries this final state if given, else the stored one.
    Delete(Option<Value>),
}

/// The result of a commit.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The new resourceVersion.
    pub rv: u64,
    /// The stored object (for deletes, its final state).
    pub obj: Arc<StoredObject>,
    /// The previous version.
    pub prev: Option<Arc<StoredObject>>,
}

/// The watch history no longer reaches the requested resourceVersion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    /// The oldest resourceVersion a watch can start from.
    pub oldest: u64,
}

struct State {
    rv: u64,
    tables: HashMap<ResKey, Table>,
    uids: HashMap<String, (ResKey, ObjKey)>,
    dependents: HashMap<String, BTreeSet<(ResKey, ObjKey)>>,
    log: VecDeque<Arc<Event>>,
    log_start: u64,
    wal: Option<Wal>,
}

struct SavedSnapshot {
    res: ResKey,
    rv: u64,
    table: Table,
    at: Instant,
}

/// The store. All writes go through [`Store::commit`].
pub struct Store {
    state: Mutex<State>,
    notify: watch::Sender<u64>,
    log_cap: usize,
    snapshots: Mutex<VecDeque<SavedSnapshot>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("rv", &self.current_rv()).finish()
    }
}

const SNAPSHOT_TTL: Duration = Duration::from_secs(300);
const MAX_SNAPSHOTS: usize = 256;

impl Store {
    /// An empty store whose counter starts at `seed_rv`; watches from before it get 410.
    pub fn new(seed_rv: u64, log_cap: usize) -> Store {
        let (notify, _) = watch::channel(seed_rv);
        Store {
            state: Mutex::new(State {
                rv: seed_rv,
                tables: HashMap::new(),
                uids: HashMap::new(),
                dependents: HashMap::new(),
                log: VecDeque::new(),
                log_start: seed_rv,
                wal: None,
            }),
            notify,
            log_cap: log_cap.max(16),
            snapshots: Mutex::new(VecDeque::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Attaches a write-ahead log; every later commit is appended before it is acknowledged.
    pub fn attach_wal(&self, wal: Wal) {
        self.lock().wal = Some(wal);
    }

    /// Loads an object without an event (start-up replay). Keeps the counter at least `rv`.
    pub fn load(&self, res: &ResKey, obj: Value, rv: u64) {
        let mut st = self.lock();
        let stored = Arc::new(StoredObject::build(&obj, rv));
        let key = stored.key();
        let prev = st
            .tables
            .entry(res.clone())
            .or_default()
            .insert(key.clone(), stored.clone());
        index_remove(&mut st, res, &key, prev.as_deref());
        index_add(&mut st, res, &key, &stored);
        if rv > st.rv {
            st.rv = rv;
        }
    }

    /// Removes an object without an event (start-up replay).
    pub fn unload(&self, res: &ResKey, key: &ObjKey) {
        let mut st = self.lock();
        let prev = st.tables.get_mut(res).and_then(|t| t.remove(key));
        index_remove(&mut st, res, key, prev.as_deref());
    }

    /// Moves the counter forward (after replay), resetting the watch window to start there.
    pub fn bump_to(&self, rv: u64) {
        let mut st = self.lock();
        if rv > st.rv {
            st.rv = rv;
        }
        st.log_start = st.rv;
        st.log.clear();
        let _ = self.notify.send(st.rv);
    }

    /// The current resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// A receiver notified with the newest resourceVersion after every commit.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.notify.subscribe()
    }

    /// One object.
    pub fn get(&self, res: &ResKey, key: &ObjKey) -> Option<Arc<StoredObject>> {
        self.lock().tables.get(res).and_then(|t| t.get(key).cloned())
    }

    /// A consistent snapshot of a resource and the resourceVersion it was taken at.
    pub fn snapshot(&self, res: &ResKey) -> (u64, Table) {
        let st = self.lock();
        (st.rv, st.tables.get(res).cloned().unwrap_or_default())
    }

    /// Snapshots of every resource (for namespace termination and state saving).
    pub fn snapshot_all(&self) -> (u64, Vec<(ResKey, Table)>) {
        let st = self.lock();
        (
            st.rv,
            st.tables.iter().map(|(k, t)| (k.clone(), t.clone())).collect(),
        )
    }

    /// Remembers a snapshot so a continue token can page through it later.
    pub fn remember_snapshot(&self, res: &ResKey, rv: u64, table: Table) {
        let mut snaps = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
        if snaps.iter().any(|s| s.rv == rv && &s.res == res) {
            return;
        }
        snaps.push_back(SavedSnapshot {
            res: res.clone(),
            rv,
            table,
            at: Instant::now(),
        });
        while snaps.len() > MAX_SNAPSHOTS || snaps.front().is_some_and(|s| s.at.elapsed() > SNAPSHOT_TTL) {
            snaps.pop_front();
        }
    }

    /// A snapshot remembered for paging, if still kept.
    pub fn recall_snapshot(&self, res: &ResKey, rv: u64) -> Option<Table> {
        let snaps = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
        snaps
            .iter()
            .find(|s| s.rv == rv && &s.res == res && s.at.elapsed() <= SNAPSHOT_TTL)
            .map(|s| s.table.clone())
    }

    /// The location of the object with this uid.
    pub fn lookup_uid(&self, uid: &str) -> Option<(ResKey, ObjKey)> {
        self.lock().uids.get(uid).cloned()
    }

    /// Objects whose ownerReferences name this uid.
    pub fn dependents_of(&self, uid: &str) -> Vec<(ResKey, ObjKey)> {
        self.lock()
            .dependents
            .get(uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Events after `rv`, or [`Expired`] when the log no longer reaches back that far.
    pub fn events_since(&self, rv: u64) -> Result<Vec<Arc<Event>>, Expired> {
        let st = self.lock();
        if rv < st.log_start || rv > st.rv {
            return Err(Expired { oldest: st.log_start });
        }
        let start = st.log.partition_point(|e| e.rv <= rv);
        Ok(st.log.range(start..).cloned().collect())
    }

    /// Applies one write if the precondition holds, assigning the next resourceVersion.
    pub fn commit(
        &self,
        res: &ResKey,
        key: &ObjKey,
        pre: Precondition,
        write: Write,
    ) -> Result<Committed, CommitError> {
        self.commit_with(res, key, pre, write, false)
    }

    /// [`Store::commit`], keeping the previous body in the watch history when `keep_prev_body`.
    pub fn commit_with(
        &self,
        res: &ResKey,
        key: &ObjKey,
        pre: Precondition,
        write: Write,
        keep_prev_body: bool,
    ) -> Result<Committed, CommitError> {
        let mut st = self.lock();
        let current = st.tables.get(res).and_then(|t| t.get(key).cloned());
        match (pre, &current) {
            (Precondition::MustNotExist, Some(_)) => return Err(CommitError::AlreadyExists),
            (Precondition::Rv(_) | Precondition::Exists, None) => return Err(CommitError::NotFound),
            (Precondition::Rv(rv), Some(cur)) if cur.rv != rv => return Err(CommitError::Conflict),
            _ => {}
        }
        if matches!(write, Write::Delete(_)) && current.is_none() {
            return Err(CommitError::NotFound);
        }
        let rv = st.rv + 1;
        let (stored, ty) = match write {
            Write::Put(mut v) => {
                set_rv(&mut v, rv);
                let ty = if current.is_some() {
                    EventType::Modified
                } else {
                    EventType::Added
                };
                (Arc::new(StoredObject::build(&v, rv)), ty)
            }
            Write::Delete(last) => {
                let mut v =
                    last.unwrap_or_else(|| current.as_ref().map(|c| c.value()).unwrap_or(Value::Null));
                set_rv(&mut v, rv);
                (Arc::new(StoredObject::build(&v, rv)), EventType::Deleted)
            }
        };
        if let Some(wal) = st.wal.as_mut() {
            let op = if ty == EventType::Deleted {
                None
            } else {
                Some(&stored.json)
            };
            if wal.append(rv, res, key, op).is_err() {
                return Err(CommitError::Storage);
            }
        }
        st.rv = rv;
        let table = st.tables.entry(res.clone()).or_default();
        if ty == EventType::Deleted {
            table.remove(key);
        } else {
            table.insert(key.clone(), stored.clone());
        }
        index_remove(&mut st, res, key, current.as_deref());
        if ty != EventType::Deleted {
            index_add(&mut st, res, key, &stored);
        }
        let prev = match &current {
            Some(c) if !keep_prev_body => Some(Arc::new(c.meta_only())),
            other => other.clone(),
        };
        let event = Arc::new(Event {
            rv,
            res: res.clone(),
            ty,
            obj: stored.clone(),
            prev,
        });
        st.log.push_back(event);
        while st.log.len() > self.log_cap {
            if let Some(old) = st.log.pop_front() {
                st.log_start = old.rv;
            }
        }
        if st.wal.as_ref().is_some_and(Wal::wants_compaction) {
            let tables: Vec<(ResKey, Table)> =
                st.tables.iter().map(|(k, t)| (k.clone(), t.clone())).collect();
            if let Some(wal) = st.wal.as_mut() {
                wal.compact(rv, &tables);
            }
        }
        drop(st);
        let _ = self.notify.send(rv);
        Ok(Committed {
            rv,
            obj: stored,
            prev: current,
        })
    }

    /// Number of objects of every resource.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.lock()
            .tables
            .iter()
            .map(|(k, t)| (k.to_string(), t.len()))
            .collect()
    }
}

fn set_rv(v: &mut Value, rv: u64) {
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

fn index_add(st: &mut State, res: &ResKey, key: &ObjKey, obj: &StoredObject) {
    if !obj.uid.is_empty() {
        st.uids.insert(obj.uid.clone(), (res.clone(), key.clone()));
    }
    for o in &obj.owners {
        st.dependents
            .entry(o.uid.to_string())
            .or_default()
            .insert((res.clone(), key.clone()));
    }
}

fn index_remove(st: &mut State, res: &ResKey, key: &ObjKey, obj: Option<&StoredObject>) {
    let Some(obj) = obj else { return };
    if st.uids.get(&obj.uid).is_some_and(|(r, k)| r == res && k == key) {
        st.uids.remove(&obj.uid);
    }
    for o in &obj.owners {
        if let Some(set) = st.dependents.get_mut(&*o.uid) {
            set.remove(&(res.clone(), key.clone()));
            if set.is_empty() {
                st.dependents.remove(&*o.uid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(name: &str, owner: Option<&str>) -> Value {
        let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}")}});
        if let Some(o) = owner {
            v["metadata"]["ownerReferences"] =
                json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": o, "uid": format!("uid-{o}")}]);
        }
        v
    }

    #[test]
    fn commit_preconditions_and_events() {
        let s = Store::new(100, 1000);
        let res: ResKey = Arc::from("/configmaps");
        let k = ObjKey::new("ns", "a");
        let c = s
            .commit(&res, &k, Precondition::MustNotExist, Write::Put(obj("a", None)))
            .unwrap();
        assert_eq!(c.rv, 101);
        assert_eq!(c.obj.value()["metadata"]["resourceVersion"], "101");
        assert_eq!(
            s.commit(&res, &k, Precondition::MustNotExist, Write::Put(obj("a", None)))
                .unwrap_err(),
            CommitError::AlreadyExists
        );
        assert_eq!(
            s.commit(&res, &k, Precondition::Rv(5), Write::Put(obj("a", None)))
                .unwrap_err(),
            CommitError::Conflict
        );
        let c2 = s
            .commit(&res, &k, Precondition::Rv(101), Write::Put(obj("a", None)))
            .unwrap();
        assert_eq!(c2.prev.as_ref().map(|p| p.rv), Some(101));
        let evs = s.events_since(100).unwrap();
        assert_eq!(
            evs.iter().map(|e| e.ty).collect::<Vec<_>>(),
            vec![EventType::Added, EventType::Modified]
        );
        assert_eq!(s.events_since(101).unwrap().len(), 1);
        assert!(s.events_since(50).is_err());
        assert!(s.events_since(500).is_err());
        let d = s
            .commit(&res, &k, Precondition::Exists, Write::Delete(None))
            .unwrap();
        assert_eq!(d.obj.value()["metadata"]["resourceVersion"], "103");
        assert!(s.get(&res, &k).is_none());
    }

    #[test]
    fn snapshots_are_stable() {
        let s = Store::new(1, 1000);
        let res: ResKey = Arc::from("/configmaps");
        s.commit(
            &res,
            &ObjKey::new("ns", "a"),
            Precondition::MustNotExist,
            Write::Put(obj("a", None)),
        )
        .unwrap();
        let (rv, snap) = s.snapshot(&res);
        s.commit(
            &res,
            &ObjKey::new("ns", "b"),
            Precondition::MustNotExist,
            Write::Put(obj("b", None)),
        )
        .unwrap();
        assert_eq!(snap.len(), 1);
        assert_eq!(rv, 2);
        assert_eq!(s.snapshot(&res).1.len(), 2);
    }

    #[test]
    fn owner_index() {
        let s = Store::new(1, 1000);
        let res: ResKey = Arc::from("/configmaps");
        s.commit(
            &res,
            &ObjKey::new("ns", "o"),
            Precondition::MustNotExist,
            Write::Put(obj("o", None)),
        )
        .unwrap();
        s.commit(
            &res,
            &ObjKey::new("ns", "d"),
            Precondition::MustNotExist,
            Write::Put(obj("d", Some("o"))),
        )
        .unwrap();
        assert_eq!(
            s.dependents_of("uid-o"),
            vec![(res.clone(), ObjKey::new("ns", "d"))]
        );
        assert!(s.lookup_uid("uid-d").is_some());
        s.commit(
            &res,
            &ObjKey::new("ns", "d"),
            Precondition::Exists,
            Write::Delete(None),
        )
        .unwrap();
        assert!(s.dependents_of("uid-o").is_empty());
        assert!(s.lookup_uid("uid-d").is_none());
    }

    #[test]
    fn log_window_is_bounded() {
        let s = Store::new(1, 16);
        let res: ResKey = Arc::from("/configmaps");
        for i in 0..40 {
            s.commit(
                &res,
                &ObjKey::new("ns", format!("c{i}")),
                Precondition::MustNotExist,
                Write::Put(obj(&format!("c{i}"), None)),
            )
            .unwrap();
        }
        assert!(s.events_since(2).is_err());
        assert_eq!(s.events_since(s.current_rv() - 3).unwrap().len(), 3);
    }
}
