//! What an operator changed in a provider's Deployment since it was installed, carried into the
//! new components of an upgrade: a three-way comparison of the old components (what was
//! installed), the live object and the new components. Per container (by name): flags added or
//! changed, environment variables added or changed, resources changed; and the replica count.

use serde_json::Value;

fn containers(d: &Value) -> &[Value] {
    d.pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn by_name<'a>(list: &'a [Value], name: &str) -> Option<&'a Value> {
    list.iter().find(|c| c["name"] == name)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// `--flag=value` → `--flag`.
fn flag(arg: &str) -> &str {
    arg.split_once('=').map_or(arg, |(f, _)| f)
}

/// Puts into `new` what the live Deployment has and the old components did not; returns what
/// was kept, one line each.
pub fn carry_over(new: &mut Value, old: &Value, live: &Value) -> Vec<String> {
    let mut kept = vec![];
    let live_replicas = live.pointer("/spec/replicas");
    if live_replicas.is_some() && live_replicas != old.pointer("/spec/replicas") {
        new["spec"]["replicas"] = live_replicas.cloned().unwrap_or(Value::Null);
        kept.push(format!("replicas {}", new["spec"]["replicas"]));
    }
    let names: Vec<String> = containers(new)
        .iter()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    for (i, name) in names.iter().enumerate() {
        let (Some(l), o) = (by_name(containers(live), name), by_name(containers(old), name)) else {
            continue;
        };
        let l = l.clone();
        let o = o.cloned().unwrap_or(Value::Null);
        let c = &mut new["spec"]["template"]["spec"]["containers"][i];
        kept.extend(args(c, &o, &l, name));
        kept.extend(env(c, &o, &l, name));
        if !l["resources"].is_null() && l["resources"] != o["resources"] {
            c["resources"] = l["resources"].clone();
            kept.push(format!("{name}: resources {}", l["resources"]));
        }
    }
    kept
}

fn args(c: &mut Value, old: &Value, live: &Value, name: &str) -> Vec<String> {
    let old_args = strings(&old["args"]);
    let mut new_args = strings(&c["args"]);
    let mut kept = vec![];
    for a in strings(&live["args"]) {
        if old_args.contains(&a) || new_args.contains(&a) {
            continue;
        }
        match new_args.iter_mut().find(|n| flag(n) == flag(&a)) {
            Some(n) => *n = a.clone(),
            None => new_args.push(a.clone()),
        }
        kept.push(format!("{name}: flag {a}"));
    }
    if !kept.is_empty() {
        c["args"] = Value::from(new_args);
    }
    kept
}

fn env(c: &mut Value, old: &Value, live: &Value, name: &str) -> Vec<String> {
    let mut kept = vec![];
    for e in live["env"].as_array().into_iter().flatten() {
        let var = e["name"].as_str().unwrap_or("");
        let was = old["env"]
            .as_array()
            .and_then(|l| l.iter().find(|o| o["name"] == var));
        if was == Some(e) {
            continue;
        }
        let list = c["env"].as_array().cloned().unwrap_or_default();
        let mut list: Vec<Value> = list.into_iter().filter(|n| n["name"] != var).collect();
        list.push(e.clone());
        c["env"] = Value::from(list);
        kept.push(format!("{name}: env {var}"));
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dep(args: &[&str], env: Value, resources: Value) -> Value {
        json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "manager", "image": "x", "args": args, "env": env, "resources": resources}]}}}})
    }

    #[test]
    fn keeps_what_the_operator_added_and_takes_the_new_defaults() {
        let old = dep(&["--leader-elect", "--v=2"], json!([]), json!({}));
        let mut live = dep(
            &["--leader-elect", "--v=5", "--extra=1"],
            json!([{"name": "FOO", "value": "bar"}]),
            json!({"limits": {"memory": "1Gi"}}),
        );
        live["spec"]["replicas"] = json!(3);
        let mut new = dep(&["--leader-elect", "--v=2", "--new-flag"], json!([]), json!({}));
        let kept = carry_over(&mut new, &old, &live);
        let c = &new["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            c["args"],
            json!(["--leader-elect", "--v=5", "--new-flag", "--extra=1"])
        );
        assert_eq!(c["env"], json!([{"name": "FOO", "value": "bar"}]));
        assert_eq!(c["resources"], json!({"limits": {"memory": "1Gi"}}));
        assert_eq!(new["spec"]["replicas"], 3);
        assert_eq!(kept.len(), 5, "{kept:?}");
    }

    #[test]
    fn an_untouched_deployment_takes_the_new_components_as_they_are() {
        let old = dep(&["--v=2"], json!([]), json!({}));
        let mut new = dep(&["--v=3"], json!([]), json!({}));
        let before = new.clone();
        assert!(carry_over(&mut new, &old, &old.clone()).is_empty());
        assert_eq!(new, before);
    }
}
