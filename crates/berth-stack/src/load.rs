//! [`load`]: a stack folder (or a plain folder or file of manifests) → the rendered [`Stack`]
//! and every finding met on the way.
//!
//! Steps: read berth.yaml (or make a default stack for a plain folder), merge values
//! (`values:` < `--values FILE` < `--set`), read each component's manifests (substituting
//! placeholders per document), build its kustomizations or render its chart, build the stack's
//! Secrets, default namespaces and apply the profile's intents; objects stay in source order.
//! Each step keeps going after errors, so one broken file does not hide the others.
//!
//! A manifest path, a `kustomize:` component or the whole stack that yields no object (and no
//! error that explains why) is a `no-objects` error: an empty stack is bad input, never an
//! empty success.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_model::{Component, Finding, Object, Origin, Profile, Severity, SourceFile, Stack};
use indexmap::IndexMap;
use serde_json::Value;

use crate::helm;
use crate::kinds;
use crate::kustomize::{self, KUSTOMIZE};
use crate::manifest::{finding_at, nearest};
use crate::profiles;
use crate::secrets::{self, CloudSecrets, LocalSources, SecretData, SecretMode, SecretSource};
use crate::sources::{self, Entry, MISSING_FILE, Strictness, display_path, file_finding};
use crate::stackfile::{
    self, ComponentSpec, OneOrMany, StackFile, parse_stack_file, parse_values_file,
};
use crate::substitute::{self, PLACEHOLDER};

/// The Kubernetes version a stack targets when it names none.
pub const DEFAULT_KUBERNETES: &str = "1.34";
/// The namespace of a stack that names none.
pub const DEFAULT_NAMESPACE: &str = "default";
/// Names of the stack file, in the order they are looked for.
pub const STACK_FILE_NAMES: &[&str] = &["berth.yaml", "berth.yml"];
/// Rule id (error, bad input) for a stack, manifest path or kustomization without any object.
pub const NO_OBJECTS: &str = "no-objects";

/// How to load: what the command line adds to the stack file.
#[derive(Clone, Default)]
pub struct LoadOptions {
    /// `--profile`, over the stack file's `profile:`.
    pub profile: Option<Profile>,
    /// `--set name=value` (value read as a YAML scalar), applied last, in order.
    pub set: Vec<String>,
    /// `--values FILE` (YAML mappings), applied after `values:`, in order.
    pub values_files: Vec<PathBuf>,
    /// Whether secret values are needed (`up`) or only their keys.
    pub secret_mode: SecretMode,
    /// Where secret values come from; environment and files when `None`.
    pub secret_source: Option<Arc<dyn SecretSource>>,
    /// AWS Secrets Manager, SSM and KMS for the secret sources that name them (read only
    /// when values are resolved for `up`); those sources are errors when `None`.
    pub cloud_secrets: Option<Arc<dyn CloudSecrets>>,
    /// The ids of `cluster.fileSystems` (berth-aws), read when the profile is `eks` and the
    /// stack declares file systems; `None`: their `${efs.<name>}` stay unfilled.
    pub cloud_values: Option<Arc<dyn CloudValues>>,
    /// berth's cache for charts (helm's state, built chart dependencies);
    /// [`helm::default_cache`] when `None`.
    pub chart_cache: Option<PathBuf>,
    /// The helm binary; found with [`helm::find_helm`] when `None`.
    pub helm: Option<PathBuf>,
    /// How to run kustomize; found with [`kustomize::find`] when `None`.
    pub kustomize: Option<kustomize::Tool>,
    /// berth's own kubectl (the one built for the local cluster), for `kubectl kustomize` when
    /// neither kustomize nor kubectl is on `PATH`. Where it is built is berth-local's business,
    /// so the caller says.
    pub local_kubectl: Option<PathBuf>,
}

/// Values that exist only once the cloud resources of `cluster:` do: the ids of the EFS file
/// systems of `cluster.fileSystems`, the values `efs.<name>`. berth-aws reads them.
pub trait CloudValues: Send + Sync + std::fmt::Debug {
    /// The ids of cluster `cluster`'s file systems that exist, by `fileSystems` name.
    fn file_systems(
        &self,
        region: Option<&str>,
        cluster: &str,
    ) -> Result<BTreeMap<String, String>, String>;
}

/// Rule id (warning) for a value of a cloud resource of `cluster:` that cannot be read yet.
pub const CLOUD_VALUE: &str = "cloud-value";

/// The result of [`load`].
#[derive(Debug, Default)]
pub struct Loaded {
    /// The rendered stack; `None` when there is no stack to speak of (missing path, unusable
    /// berth.yaml). Present even when some files had errors: it holds what could be read.
    pub stack: Option<Stack>,
    /// Everything found while loading, in the order met.
    pub findings: Vec<Finding>,
    /// Secret values for [`SecretData::materialize`]; empty unless loaded in strict mode.
    pub secrets: SecretData,
    /// The parsed berth.yaml, when the stack has one (component specs, chart settings).
    pub stack_file: Option<StackFile>,
    /// What [`Loaded::resolve_secrets`] needs: berth.yaml's text, the stack folder and the
    /// stack's namespace.
    secret_inputs: Option<SecretInputs>,
}

#[derive(Debug)]
struct SecretInputs {
    file: Arc<SourceFile>,
    root: PathBuf,
    namespace: String,
    cloud: Option<Arc<dyn CloudSecrets>>,
}

impl Loaded {
    /// True when the input could not be read as a stack (exit code 2): nothing to apply.
    pub fn is_bad_input(&self) -> bool {
        self.stack.is_none() || self.findings.iter().any(Finding::is_bad_input)
    }

    /// True when any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The values of the stack's Secrets, read from `source` as `berth up` needs them (every
    /// value, an unavailable one is an error finding), without reading or rendering anything
    /// else again: the objects of a [`SecretMode::Redact`] load are the objects `up` applies,
    /// with these values filled in by [`SecretData::materialize`].
    pub fn resolve_secrets(&self, source: &dyn SecretSource) -> (SecretData, Vec<Finding>) {
        let mut data = SecretData::default();
        let mut findings = Vec::new();
        if let (Some(sf), Some(inputs)) = (&self.stack_file, &self.secret_inputs) {
            let build = secrets::Build {
                stack_file: &inputs.file,
                positions: &sf.positions,
                root: &inputs.root,
                namespace: &inputs.namespace,
                mode: SecretMode::Strict,
                source,
                cloud: inputs.cloud.as_deref(),
                region: sf.cluster.as_ref().and_then(|c| c.region.as_deref()),
            };
            build.run(&sf.secrets, &mut data, &mut findings);
        }
        (data, findings)
    }
}

/// Load and render the stack at `path`: a folder with berth.yaml, berth.yaml itself, a plain
/// folder of manifests, or a single manifest file.
pub fn load(path: &Path, options: &LoadOptions) -> Loaded {
    let mut out = Loaded::default();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            out.findings.push(file_finding(
                path,
                MISSING_FILE,
                &format!("cannot read the stack: {e}"),
                "give the path of a stack folder, berth.yaml or a manifest file",
            ));
            return out;
        }
    };
    let (root, stack_file_path) = if meta.is_dir() {
        let found = STACK_FILE_NAMES
            .iter()
            .map(|n| path.join(n))
            .find(|p| p.is_file());
        (path.to_path_buf(), found)
    } else {
        let is_stack_file = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| STACK_FILE_NAMES.contains(&n));
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        (
            parent.to_path_buf(),
            is_stack_file.then(|| path.to_path_buf()),
        )
    };
    let (sf, stack_source, plain) = match &stack_file_path {
        Some(p) => {
            let text = match std::fs::read_to_string(p) {
                Ok(t) => t,
                Err(e) => {
                    out.findings.push(file_finding(
                        &display_path(&root, p),
                        MISSING_FILE,
                        &format!("cannot read berth.yaml: {e}"),
                        "check the file",
                    ));
                    return out;
                }
            };
            let file = Arc::new(SourceFile::new(display_path(&root, p), Arc::from(text)));
            let (sf, findings) = parse_stack_file(&file);
            out.findings.extend(findings);
            let Some(sf) = sf else { return out };
            (sf, Some(file), false)
        }
        None => (plain_stack(path, &root, meta.is_dir()), None, true),
    };
    let mut r = Renderer {
        root: root.clone(),
        options,
        stack_source,
        stack_positions: sf.positions.clone(),
        values: IndexMap::new(),
        findings: Vec::new(),
        objects: Vec::new(),
    };
    r.values = r.merge_values(&sf);
    let profile = options.profile.or(sf.profile).unwrap_or_default();
    let namespace = sf
        .namespace
        .clone()
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    let kubernetes = sf
        .kubernetes
        .clone()
        .unwrap_or_else(|| DEFAULT_KUBERNETES.to_string());

    let mut components = Vec::new();
    // Objects of each component, with the namespace they default to.
    let mut component_ns: BTreeMap<String, String> = BTreeMap::new();
    for (name, spec) in &sf.components {
        let disabled = (!spec.profiles.is_empty() && !spec.profiles.contains(&profile))
            || !r.when_holds(name, spec);
        components.push(Component {
            name: name.clone(),
            after: spec.after.clone(),
            disabled,
        });
        component_ns.insert(
            name.clone(),
            spec.namespace.clone().unwrap_or_else(|| namespace.clone()),
        );
        if disabled {
            continue;
        }
        let ns = &component_ns[name];
        if let Some(manifests) = &spec.manifests {
            let strictness = if plain {
                Strictness::PlainFolder
            } else {
                Strictness::Strict
            };
            r.read_manifests(name, manifests, strictness, stack_file_path.as_deref());
        }
        if let Some(dir) = &spec.kustomize {
            r.build_kustomize(name, dir);
        }
        if spec.chart.is_some() {
            r.render_chart(name, spec, ns, &kubernetes);
        }
    }

    let mut secret_data = SecretData::default();
    if let Some(file) = &r.stack_source {
        let source: &dyn SecretSource = match &options.secret_source {
            Some(s) => s.as_ref(),
            None => &LocalSources,
        };
        let build = secrets::Build {
            stack_file: file,
            positions: &sf.positions,
            root: &root,
            namespace: &namespace,
            mode: options.secret_mode,
            source,
            cloud: options.cloud_secrets.as_deref(),
            region: sf.cluster.as_ref().and_then(|c| c.region.as_deref()),
        };
        let objs = build.run(&sf.secrets, &mut secret_data, &mut r.findings);
        r.objects.extend(objs);
    }

    if r.objects.is_empty() && !r.findings.iter().any(|f| f.severity == Severity::Error) {
        r.findings.push(file_finding(
            path,
            NO_OBJECTS,
            &format!("no objects found in {}", path.display()),
            "add Kubernetes manifests (apiVersion, kind, metadata.name), or point berth at the stack folder",
        ));
    }

    let scopes = berth_model::scope::Scopes::from_objects(&r.objects);
    for o in &mut r.objects {
        let ns = component_ns
            .get(&o.component)
            .map(String::as_str)
            .unwrap_or(&namespace);
        kinds::default_namespace(o, ns, &scopes);
        let found = profiles::apply(profile, o);
        r.findings.extend(found);
        exact_metadata(o);
    }
    let (classes, found) = profiles::intent_classes(profile, &r.objects, &sf.external);
    r.objects.extend(classes);
    r.objects.shrink_to_fit();
    r.findings.extend(found);
    // Objects stay in source order (component, file, document); the order they are applied
    // in is the planner's (`berth-plan`), from their references.

    out.findings.append(&mut r.findings);
    out.stack = Some(Stack {
        name: sf.stack.clone(),
        root,
        namespace,
        kubernetes,
        profile,
        components,
        objects: r.objects,
        external: sf.external.clone(),
        cluster: sf.cluster.clone(),
        values: r.values.into_iter().collect(),
    });
    out.secrets = secret_data;
    if let (false, Some(file)) = (plain, r.stack_source.clone()) {
        out.secret_inputs = Some(SecretInputs {
            file,
            root: out
                .stack
                .as_ref()
                .map(|s| s.root.clone())
                .unwrap_or_default(),
            namespace: out
                .stack
                .as_ref()
                .map(|s| s.namespace.clone())
                .unwrap_or_default(),
            cloud: options.cloud_secrets.clone(),
        });
    }
    out.stack_file = (!plain).then_some(sf);
    out
}

/// The stack of a folder (or file) without berth.yaml: one component named after the folder,
/// or after the file's stem (a kustomization file: after its folder), the default namespace and
/// version.
fn plain_stack(path: &Path, root: &Path, is_dir: bool) -> StackFile {
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let base = if is_dir || kustomize::KUSTOMIZATION_FILES.contains(&file_name) {
        let named = if is_dir { path } else { root };
        std::fs::canonicalize(named)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
    } else {
        path.file_stem().map(|n| n.to_string_lossy().into_owned())
    };
    let name = dns_name(base.as_deref().unwrap_or("stack"));
    let manifests = if is_dir {
        ".".to_string()
    } else {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut components = IndexMap::new();
    components.insert(
        name.clone(),
        ComponentSpec {
            manifests: Some(OneOrMany::One(manifests)),
            ..ComponentSpec::default()
        },
    );
    StackFile {
        stack: name,
        components,
        ..StackFile::default()
    }
}

/// A folder name made into a DNS-1123 label.
fn dns_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    out.truncate(63);
    let out = out.trim_matches('-').to_string();
    if out.is_empty() {
        "stack".to_string()
    } else {
        out
    }
}

struct Renderer<'a> {
    root: PathBuf,
    options: &'a LoadOptions,
    stack_source: Option<Arc<SourceFile>>,
    stack_positions: Arc<berth_model::Positions>,
    values: IndexMap<String, Value>,
    findings: Vec<Finding>,
    objects: Vec<Object>,
}

impl Renderer<'_> {
    /// Whether every value named in the component's `when:` has the value given there. A name
    /// that is no value is a `stack-file` error (the component is then off): a typo must not
    /// silently switch a component off.
    fn when_holds(&mut self, component: &str, spec: &ComponentSpec) -> bool {
        let mut holds = true;
        for (name, wanted) in &spec.when {
            match self.values.get(name) {
                Some(actual) => holds &= same_value(actual, wanted),
                None => {
                    let pointer = format!(
                        "/components/{}/when/{}",
                        berth_yaml::escape_pointer_token(component),
                        berth_yaml::escape_pointer_token(name)
                    );
                    let names: Vec<&str> = self.values.keys().map(String::as_str).collect();
                    let hint = stackfile::did_you_mean(name, &names);
                    if let Some(file) = &self.stack_source {
                        self.findings.push(finding_at(
                            file,
                            stackfile::STACK_FILE,
                            Severity::Error,
                            nearest(&self.stack_positions, &pointer),
                            format!(
                                "component `{component}` is `when:` value `{name}`, which is no value{hint}"
                            ),
                            "name a value of `values:` (or give it with --set)",
                        ));
                    }
                    holds = false;
                }
            }
        }
        holds
    }

    /// `values:` < `--values FILE`s < `--set`s.
    fn merge_values(&mut self, sf: &StackFile) -> IndexMap<String, Value> {
        let mut values = sf.values.clone();
        for path in &self.options.values_files {
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    let file = Arc::new(SourceFile::new(path.clone(), Arc::from(text)));
                    let (v, findings) = parse_values_file(&file);
                    values.extend(v);
                    self.findings.extend(findings);
                }
                Err(e) => self.findings.push(file_finding(
                    path,
                    MISSING_FILE,
                    &format!("cannot read values file: {e}"),
                    "check the --values path",
                )),
            }
        }
        self.file_system_values(sf, &mut values);
        for set in &self.options.set {
            match set.split_once('=') {
                Some((name, text)) if !name.trim().is_empty() => {
                    match berth_yaml::resolve_plain_scalar(text) {
                        Ok(v) => {
                            values.insert(name.trim().to_string(), v);
                        }
                        Err(e) => self.findings.push(file_finding(
                            Path::new("--set"),
                            stackfile::STACK_FILE,
                            &format!("--set {set}: {e}"),
                            "quote the value",
                        )),
                    }
                }
                _ => self.findings.push(file_finding(
                    Path::new("--set"),
                    stackfile::STACK_FILE,
                    &format!("--set `{set}` is not `name=value`"),
                    "write it as --set name=value",
                )),
            }
        }
        values
    }

    /// `efs.<name>`: the id of each file system of `cluster.fileSystems`, on EKS, below
    /// `--set` (which can name one by hand). One that cannot be read is a warning: `cluster
    /// config` and `check` work before the cluster exists, and the placeholder stays as written.
    fn file_system_values(&mut self, sf: &StackFile, values: &mut IndexMap<String, Value>) {
        let profile = self.options.profile.or(sf.profile).unwrap_or_default();
        let (Some(cloud), Some(cluster), Profile::Eks) =
            (&self.options.cloud_values, &sf.cluster, profile)
        else {
            return;
        };
        if cluster.file_systems.is_empty() {
            return;
        }
        let found = cloud.file_systems(cluster.region.as_deref(), &cluster.name);
        for (i, fs) in cluster.file_systems.iter().enumerate() {
            let name = format!("efs.{}", fs.name);
            let why = match &found {
                Ok(ids) => match ids.get(&fs.name) {
                    Some(id) => {
                        values.insert(name, Value::String(id.clone()));
                        continue;
                    }
                    None => "it does not exist yet".to_string(),
                },
                Err(e) => format!("AWS cannot be asked: {e}"),
            };
            let finding = self.stack_finding(
                &format!("/cluster/fileSystems/{i}"),
                CLOUD_VALUE,
                format!("`${{{name}}}` (the id of EFS file system `{}` of cluster `{}`) stays unfilled: {why}", fs.name, cluster.name),
                "create it with `berth cluster up`, or give it with `--set`",
            );
            self.findings.push(Finding {
                severity: Severity::Warning,
                ..finding
            });
        }
    }

    /// The position of a berth.yaml node, for findings about it (line 1 for plain folders).
    fn stack_finding(&self, pointer: &str, rule: &str, message: String, fix: &str) -> Finding {
        match &self.stack_source {
            Some(file) => {
                let pos = nearest(&self.stack_positions, pointer);
                finding_at(file, rule, Severity::Error, pos, message, fix)
            }
            None => file_finding(
                Path::new(pointer.rsplit('/').next().unwrap_or("")),
                rule,
                &message,
                fix,
            ),
        }
    }

    fn read_manifests(
        &mut self,
        component: &str,
        manifests: &OneOrMany,
        strictness: Strictness,
        stack_file: Option<&Path>,
    ) {
        let base = format!(
            "/components/{}/manifests",
            berth_yaml::escape_pointer_token(component)
        );
        let many = matches!(manifests, OneOrMany::Many(_));
        for (i, entry) in manifests.paths().into_iter().enumerate() {
            let pointer = if many {
                format!("{base}/{i}")
            } else {
                base.clone()
            };
            let path = self.root.join(entry);
            let mut skipped = Vec::new();
            let entries = match sources::collect(
                &path,
                strictness == Strictness::PlainFolder,
                &mut skipped,
            ) {
                Ok(f) => f,
                Err(e) => {
                    let f = self.stack_finding(
                        &pointer,
                        MISSING_FILE,
                        format!("component `{component}`: cannot read `{entry}`: {e}"),
                        "fix the path; it is relative to the stack folder",
                    );
                    self.findings.push(f);
                    continue;
                }
            };
            for dir in skipped {
                self.findings.push(file_finding(
                    &display_path(&self.root, &dir.join("Chart.yaml")),
                    sources::SKIPPED,
                    "skipped a Helm chart folder: its templates are not plain manifests",
                    "add a berth.yaml with a component `chart: { path: ... }` to render it",
                ));
            }
            let (objects, errors) = (self.objects.len(), self.error_count());
            let built = self.build_roots(&entries);
            let read = self.read_files(component, &entries, stack_file, strictness);
            for (e, read) in entries.into_iter().zip(read) {
                match e {
                    Entry::File(_) => {
                        if let Some((objects, findings)) = read {
                            self.objects.extend(objects);
                            self.findings.extend(findings);
                        }
                    }
                    Entry::Kustomization(root) => {
                        if let Some(result) = built.get(&root) {
                            self.read_build(component, &root, result);
                        }
                    }
                }
            }
            if self.stack_source.is_some()
                && self.objects.len() == objects
                && self.error_count() == errors
            {
                let f = self.stack_finding(
                    &pointer,
                    NO_OBJECTS,
                    format!("component `{component}`: no objects found in `{entry}`"),
                    "add Kubernetes manifests there (apiVersion, kind, metadata.name), or fix the path",
                );
                self.findings.push(f);
            }
        }
    }

    fn error_count(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }

    /// The kustomize tool: the one given in the options, else [`kustomize::find`]'s.
    fn kustomize_tool(&self) -> Option<kustomize::Tool> {
        self.options
            .kustomize
            .clone()
            .or_else(|| kustomize::find(self.options.local_kubectl.as_deref()))
    }

    /// Build the kustomization roots among `entries` that no other root uses (in parallel),
    /// noting the others as built through the root that uses them. With no kustomize tool,
    /// each root to build is a `kustomize` error at its kustomization file.
    fn build_roots(
        &mut self,
        entries: &[Entry],
    ) -> BTreeMap<PathBuf, Result<kustomize::Built, kustomize::KustomizeError>> {
        let roots: Vec<PathBuf> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Kustomization(root) => Some(root.clone()),
                Entry::File(_) => None,
            })
            .collect();
        if roots.is_empty() {
            return BTreeMap::new();
        }
        let (build, left_out) = kustomize::roots_to_build(&roots);
        for (root, user) in left_out {
            let file = kustomize::kustomization_file(&root).unwrap_or(root.clone());
            let shown = display_path(&self.root, &root);
            let (message, fix) = match user {
                Some(user) => (
                    format!(
                        "`{}` is built as part of `{}`, not on its own",
                        shown.display(),
                        display_path(&self.root, &user).display()
                    ),
                    "nothing to do; move it out of the stack folder if it is not a base",
                ),
                None => (
                    format!(
                        "`{}` is a kustomize Component: it acts only in a kustomization that lists it",
                        shown.display()
                    ),
                    "list it under `components:` of the kustomization that should use it",
                ),
            };
            self.findings.push(file_finding(
                &display_path(&self.root, &file),
                sources::SKIPPED,
                &message,
                fix,
            ));
        }
        let Some(tool) = self.kustomize_tool() else {
            for root in &build {
                let file = kustomize::kustomization_file(root).unwrap_or(root.clone());
                let (message, fix) = kustomize::missing_tool(&format!(
                    "`{}`",
                    display_path(&self.root, root).display()
                ));
                self.findings.push(file_finding(
                    &display_path(&self.root, &file),
                    KUSTOMIZE,
                    &message,
                    &fix,
                ));
            }
            return BTreeMap::new();
        };
        let results = kustomize::build_all(&tool, &build);
        build.into_iter().zip(results).collect()
    }

    /// Read the output of one build, or report why it failed.
    fn read_build(
        &mut self,
        component: &str,
        root: &Path,
        result: &Result<kustomize::Built, kustomize::KustomizeError>,
    ) {
        match result {
            Ok(built) => {
                // Placeholders are berth.yaml's: a plain folder's build is taken as it is.
                let transform = substitution(&self.values);
                let transform = self.stack_source.is_some().then_some(&transform);
                kustomize::read_built(
                    &self.root,
                    root,
                    built,
                    component,
                    transform.map(|t| t as &sources::Transform<'_>),
                    &mut self.objects,
                    &mut self.findings,
                );
            }
            Err(e) => self
                .findings
                .push(kustomize::error_finding(&self.root, root, e)),
        }
    }

    /// A `kustomize: DIR` component.
    fn build_kustomize(&mut self, component: &str, dir: &str) {
        let pointer = format!(
            "/components/{}/kustomize",
            berth_yaml::escape_pointer_token(component)
        );
        let root = self.root.join(dir);
        if kustomize::kustomization_file(&root).is_none() {
            let f = self.stack_finding(
                &pointer,
                MISSING_FILE,
                format!("component `{component}`: `{dir}` holds no kustomization.yaml"),
                "name a folder with a kustomization.yaml (or .yml, Kustomization); it is relative to the stack folder",
            );
            self.findings.push(f);
            return;
        }
        let Some(tool) = self.kustomize_tool() else {
            let (message, fix) = kustomize::missing_tool(&format!("component `{component}`"));
            let f = self.stack_finding(&pointer, KUSTOMIZE, message, &fix);
            self.findings.push(f);
            return;
        };
        let (objects, errors) = (self.objects.len(), self.error_count());
        let result = kustomize::build(&tool, &root);
        self.read_build(component, &root, &result);
        if self.objects.len() == objects && self.error_count() == errors {
            let f = self.stack_finding(
                &pointer,
                NO_OBJECTS,
                format!("component `{component}`: no objects found in `{dir}`"),
                "check the kustomization's resources",
            );
            self.findings.push(f);
        }
    }

    /// Reads and parses the manifest files among `entries` (not the stack file nor a values
    /// file) in parallel, each into its objects and findings, one result per entry (`None`
    /// for the others): the caller takes them in entry order, so the result does not depend
    /// on which thread finished first.
    fn read_files(
        &self,
        component: &str,
        entries: &[Entry],
        stack_file: Option<&Path>,
        strictness: Strictness,
    ) -> Vec<Option<(Vec<Object>, Vec<Finding>)>> {
        use rayon::prelude::*;
        let (root, values) = (&self.root, &self.values);
        let skip = |file: &Path| {
            stack_file.is_some_and(|s| same_file(s, file))
                || self.options.values_files.iter().any(|v| same_file(v, file))
        };
        let files: Vec<Option<&PathBuf>> = entries
            .iter()
            .map(|e| match e {
                Entry::File(file) if !skip(file) => Some(file),
                _ => None,
            })
            .collect();
        files
            .into_par_iter()
            .map(|file| file.map(|f| read_file(root, values, component, f, strictness)))
            .collect()
    }

    fn render_chart(
        &mut self,
        component: &str,
        spec: &ComponentSpec,
        namespace: &str,
        kubernetes: &str,
    ) {
        let Some(chart) = &spec.chart else { return };
        let pointer = format!(
            "/components/{}/chart",
            berth_yaml::escape_pointer_token(component)
        );
        let Some(helm_bin) = self.options.helm.clone().or_else(helm::find_helm) else {
            let f = self.stack_finding(
                &pointer,
                helm::HELM,
                format!("component `{component}` is a Helm chart, and helm is not installed"),
                "install helm (or set BERTH_HELM to its path)",
            );
            self.findings.push(f);
            return;
        };
        // Placeholders work in chart values too.
        let mut values = spec.values.clone();
        if let Some(v) = values.as_mut() {
            let mut unfilled = Vec::new();
            let vp = format!(
                "/components/{}/values",
                berth_yaml::escape_pointer_token(component)
            );
            let mut at = vp.clone();
            substitute::substitute(v, &mut at, &self.values, &|_| false, &mut unfilled);
            for u in unfilled {
                let f = self.stack_finding(&u.pointer, PLACEHOLDER, u.message, &u.fix);
                self.findings.push(f);
            }
        }
        let release = chart.release.as_deref().unwrap_or(component);
        let cache = self
            .options
            .chart_cache
            .clone()
            .unwrap_or_else(helm::default_cache);
        let render = helm::Render {
            helm: &helm_bin,
            release,
            chart,
            root: &self.root,
            namespace,
            kubernetes,
            values: values.as_ref(),
            cache: &cache,
        };
        match helm::template(&render) {
            Ok(text) => {
                let label = chart
                    .name
                    .clone()
                    .or_else(|| chart.path.clone())
                    .unwrap_or_else(|| component.to_string());
                let file = Arc::new(SourceFile::new(
                    PathBuf::from(format!("helm template {component} ({label})")),
                    Arc::from(text),
                ));
                let origin = Origin::Chart { chart: label };
                sources::read_source(
                    &file,
                    component,
                    &origin,
                    Strictness::Strict,
                    None,
                    &mut self.objects,
                    &mut self.findings,
                );
            }
            Err(e) => {
                let f = self.stack_finding(
                    &pointer,
                    helm::HELM,
                    format!("component `{component}`: {}", e.message),
                    &e.fix,
                );
                self.findings.push(f);
            }
        }
    }
}

/// Rebuilds `metadata` at its exact size once rendering has added to it. The YAML reader
/// builds every mapping at its exact size (every object stays in memory until the checks are
/// done); adding the default namespace to a full `metadata` doubled its room, which was 3 MB
/// of a 10,000-object check's 60 MB heap (heaptrack).
fn exact_metadata(o: &mut Object) {
    if let Some(Value::Object(meta)) = o.value.get_mut("metadata") {
        *meta = std::mem::take(meta).into_iter().collect();
    }
}

/// Placeholder substitution of one document (before it becomes objects), with `placeholder`
/// errors at the scalars that cannot be filled.
fn substitution(
    values: &IndexMap<String, Value>,
) -> impl Fn(&Arc<SourceFile>, &mut berth_yaml::Document, &mut Vec<Finding>) + '_ {
    move |file: &Arc<SourceFile>, doc: &mut berth_yaml::Document, findings: &mut Vec<Finding>| {
        substitute::document(file, doc, values, findings);
    }
}

/// One manifest file → its objects and findings (placeholders substituted from `values`
/// unless it is read as a plain folder's file, which declares no values).
fn read_file(
    root: &Path,
    values: &IndexMap<String, Value>,
    component: &str,
    path: &Path,
    strictness: Strictness,
) -> (Vec<Object>, Vec<Finding>) {
    let (mut objects, mut findings) = (Vec::new(), Vec::new());
    let shown = display_path(root, path);
    let text = match std::fs::read(path).map(String::from_utf8) {
        Ok(Ok(t)) => t,
        Ok(Err(_)) => {
            findings.push(file_finding(
                &shown,
                MISSING_FILE,
                "this file is not UTF-8 text",
                "save it as UTF-8",
            ));
            return (objects, findings);
        }
        Err(e) => {
            findings.push(file_finding(
                &shown,
                MISSING_FILE,
                &format!("cannot read this file: {e}"),
                "check its permissions",
            ));
            return (objects, findings);
        }
    };
    let file = Arc::new(SourceFile::new(shown, Arc::from(text)));
    let substitute_doc = substitution(values);
    let transform: Option<&sources::Transform<'_>> = match strictness {
        Strictness::Strict => Some(&substitute_doc),
        Strictness::PlainFolder => None,
    };
    sources::read_source(
        &file,
        component,
        &Origin::Manifest,
        strictness,
        transform,
        &mut objects,
        &mut findings,
    );
    // Read, the text goes: findings read it back for their snippets (`SourceFile::text`).
    let on_disk = Arc::new(file.left_on_disk(path));
    for o in objects.iter_mut().filter(|o| Arc::ptr_eq(&o.file, &file)) {
        o.file = on_disk.clone();
    }
    for source in findings.iter_mut().filter_map(|f| f.source.as_mut()) {
        if Arc::ptr_eq(source, &file) {
            *source = on_disk.clone();
        }
    }
    (objects, findings)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `when:` equality: equal values, or equal text (`--set exposure=1` against `when: {exposure: "1"}`).
fn same_value(actual: &Value, wanted: &Value) -> bool {
    fn text(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
    actual == wanted || (text(actual).is_some() && text(actual) == text(wanted))
}
