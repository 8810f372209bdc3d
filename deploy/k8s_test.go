package deploy

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

const k8sBase = "k8s/base"

// kustomization is the part of kustomize's file format the base uses,
// decoded strictly so that a misspelled field fails here and not in
// kustomize.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images,omitempty"`
}

// manifests holds the decoded objects of one set of YAML documents.
type manifests struct {
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	configMaps  []*corev1.ConfigMap
	secrets     []*corev1.Secret
	pdbs        []*policyv1.PodDisruptionBudget
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	pvcs        []*corev1.PersistentVolumeClaim
	kinds       []string // "apiVersion/kind name", in order
}

// splitDocuments splits a YAML stream on document markers.
func splitDocuments(b []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---[ \t]*$`).Split(string(b), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(d, "")) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

// decode decodes every document strictly into its Kubernetes API type: an
// unknown or misplaced field is an error, as are kinds the base does not
// use and API versions other than the current stable ones.
func (m *manifests) decode(where string, b []byte) error {
	for i, doc := range splitDocuments(b) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return fmt.Errorf("%s document %d: %w", where, i+1, err)
		}
		var obj any
		want := ""
		switch tm.Kind {
		case "Deployment":
			o := new(appsv1.Deployment)
			m.deployments, obj, want = append(m.deployments, o), o, "apps/v1"
		case "Service":
			o := new(corev1.Service)
			m.services, obj, want = append(m.services, o), o, "v1"
		case "ConfigMap":
			o := new(corev1.ConfigMap)
			m.configMaps, obj, want = append(m.configMaps, o), o, "v1"
		case "Secret":
			o := new(corev1.Secret)
			m.secrets, obj, want = append(m.secrets, o), o, "v1"
		case "PodDisruptionBudget":
			o := new(policyv1.PodDisruptionBudget)
			m.pdbs, obj, want = append(m.pdbs, o), o, "policy/v1"
		case "PersistentVolumeClaim":
			o := new(corev1.PersistentVolumeClaim)
			m.pvcs, obj, want = append(m.pvcs, o), o, "v1"
		case "HorizontalPodAutoscaler":
			o := new(autoscalingv2.HorizontalPodAutoscaler)
			m.hpas, obj, want = append(m.hpas, o), o, "autoscaling/v2"
		default:
			return fmt.Errorf("%s document %d: unexpected kind %q", where, i+1, tm.Kind)
		}
		if tm.APIVersion != want {
			return fmt.Errorf("%s document %d: %s is %s, want %s", where, i+1, tm.Kind, tm.APIVersion, want)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return fmt.Errorf("%s document %d (%s): %w", where, i+1, tm.Kind, err)
		}
		var om struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		_ = yaml.Unmarshal(doc, &om)
		m.kinds = append(m.kinds, tm.APIVersion+"/"+tm.Kind+" "+om.Metadata.Name)
	}
	return nil
}

// loadBase decodes every manifest file of the base and its kustomization.
func loadBase(t *testing.T) (*manifests, kustomization, map[string]*manifests) {
	t.Helper()
	var k kustomization
	if err := yaml.UnmarshalStrict([]byte(readFile(t, filepath.Join(k8sBase, "kustomization.yaml"))), &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	files, err := filepath.Glob(filepath.Join(k8sBase, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	all := &manifests{}
	byFile := map[string]*manifests{}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		m := &manifests{}
		if err := m.decode(f, []byte(readFile(t, f))); err != nil {
			t.Fatal(err)
		}
		if err := all.decode(f, []byte(readFile(t, f))); err != nil {
			t.Fatal(err)
		}
		byFile[filepath.Base(f)] = m
	}
	return all, k, byFile
}

func TestKubernetesKustomization(t *testing.T) {
	_, k, byFile := loadBase(t)
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml is %s %s", k.APIVersion, k.Kind)
	}
	// Every manifest is in the base except the Secret example: applying the
	// base must never overwrite real key material with a placeholder.
	for f, m := range byFile {
		listed := slices.Contains(k.Resources, f)
		switch {
		case len(m.secrets) > 0 && listed:
			t.Errorf("%s holds a Secret and is listed in kustomization.yaml", f)
		case len(m.secrets) == 0 && !listed:
			t.Errorf("%s is not listed in kustomization.yaml", f)
		}
	}
	for _, r := range k.Resources {
		if _, ok := byFile[r]; !ok {
			t.Errorf("kustomization.yaml lists %s, which is not in %s", r, k8sBase)
		}
	}
}

func TestKubernetesManifests(t *testing.T) {
	m, _, _ := loadBase(t)
	checkManifests(t, m)

	// The Secret example shows the shape of the real ones and holds nothing
	// certd would accept as a key.
	names := map[string]*corev1.Secret{}
	for _, s := range m.secrets {
		names[s.Name] = s
		for k, v := range s.StringData {
			if looksLikeKey(v) || !strings.Contains(v, "REPLACE") {
				t.Errorf("secret %s key %s should be an obvious placeholder, is %q", s.Name, k, v)
			}
		}
		if len(s.Data) > 0 {
			t.Errorf("secret %s has data: the example must hold placeholders only", s.Name)
		}
	}
	d := m.deployments[0]
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret == nil {
			continue
		}
		s, ok := names[v.Secret.SecretName]
		if !ok {
			t.Errorf("volume %s mounts Secret %s, which secret-example.yaml does not show", v.Name, v.Secret.SecretName)
			continue
		}
		for _, it := range v.Secret.Items {
			if _, ok := s.StringData[it.Key]; !ok {
				t.Errorf("volume %s needs key %s of Secret %s, which the example lacks", v.Name, it.Key, s.Name)
			}
		}
	}
	raw := readFile(t, filepath.Join(k8sBase, "secret-example.yaml"))
	if !strings.Contains(raw, "kubectl create secret generic certd-kek") {
		t.Error("secret-example.yaml should show the kubectl create secret command")
	}
}

// checkManifests asserts what the base promises; it runs on the files and
// on kustomize's rendering of them.
func checkManifests(t *testing.T, m *manifests) {
	t.Helper()
	if len(m.deployments) != 1 || len(m.services) != 1 || len(m.configMaps) != 1 || len(m.pdbs) != 1 || len(m.hpas) != 1 {
		t.Fatalf("want one Deployment, Service, ConfigMap, PodDisruptionBudget and HorizontalPodAutoscaler, have %v", m.kinds)
	}
	d, svc, cm, pdb, hpa := m.deployments[0], m.services[0], m.configMaps[0], m.pdbs[0], m.hpas[0]
	pod := d.Spec.Template
	podLabels := labels.Set(pod.Labels)

	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("Deployment replicas = %v, want 2", d.Spec.Replicas)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(podLabels) {
		t.Fatalf("Deployment selector %v does not select its own pods %v (%v)", d.Spec.Selector, pod.Labels, err)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Error("a rolling update should never take a serving pod away before its replacement is ready (maxUnavailable 0)")
	}

	// Pod and container security.
	ps := pod.Spec.SecurityContext
	if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser == 0 {
		t.Errorf("pod securityContext must run as a non-root uid: %+v", ps)
	}
	if ps == nil || ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod seccompProfile must be RuntimeDefault")
	}
	if a := pod.Spec.AutomountServiceAccountToken; a == nil || *a {
		t.Error("certd needs no service account token: automountServiceAccountToken false")
	}
	if e := pod.Spec.EnableServiceLinks; e == nil || *e {
		t.Error("enableServiceLinks should be false: service variables share certd's CERTD_ prefix")
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("want one container, have %d", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("the container has no securityContext")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("allowPrivilegeEscalation must be false")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("readOnlyRootFilesystem must be true")
	case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
		t.Error("capabilities: drop ALL, add none")
	case sc.Privileged != nil && *sc.Privileged:
		t.Error("privileged container")
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		t.Error("container runAsNonRoot must be true")
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Error("container seccompProfile must be RuntimeDefault")
	}

	// Probes: ready means /readyz (database and register), alive means
	// /healthz; startup waits on /healthz so that a fresh deployment, not
	// ready until "certd init", is not restarted in a loop.
	port := slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "http" && p.ContainerPort == 8080 })
	if port < 0 {
		t.Fatalf("container ports %v lack http 8080", c.Ports)
	}
	probe := func(name string, p *corev1.Probe, path string) {
		t.Helper()
		switch {
		case p == nil || p.HTTPGet == nil:
			t.Errorf("%s probe: want an HTTP GET of %s", name, path)
		case p.HTTPGet.Path != path:
			t.Errorf("%s probe path = %s, want %s", name, p.HTTPGet.Path, path)
		case p.HTTPGet.Port.String() != "http" && p.HTTPGet.Port.IntValue() != 8080:
			t.Errorf("%s probe port = %s, want the http port", name, p.HTTPGet.Port.String())
		case p.TimeoutSeconds < 3 && path == "/readyz":
			t.Errorf("%s probe timeout %ds is shorter than /readyz's own 2 s bound plus the answer", name, p.TimeoutSeconds)
		}
	}
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("startup", c.StartupProbe, "/healthz")

	// Resources, from the figures in docs/benchmarks.md: 484 MB peak RSS
	// issuing a 10,000-row roster, 354 MB after a cold verification flood.
	req, lim := c.Resources.Requests, c.Resources.Limits
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		rq, rok := req[r]
		lm, lok := lim[r]
		if !rok || !lok || lm.Cmp(rq) < 0 {
			t.Errorf("%s: request %v and limit %v must both be set, limit >= request", r, rq.String(), lm.String())
		}
	}
	if mem := lim[corev1.ResourceMemory]; mem.Cmp(resource.MustParse("600M")) < 0 {
		t.Errorf("memory limit %s is under the measured 484 MB issuing peak plus headroom", mem.String())
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if gml, ok := env["GOMEMLIMIT"]; ok {
		q, err := resource.ParseQuantity(strings.TrimSuffix(gml.Value, "B"))
		if mem := lim[corev1.ResourceMemory]; err != nil || q.Cmp(mem) >= 0 {
			t.Errorf("GOMEMLIMIT %q must be a size below the memory limit %s (%v)", gml.Value, mem.String(), err)
		}
	}

	// Settings from the ConfigMap; the KEK and the database password from
	// Secrets mounted as files.
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != cm.Name {
		t.Errorf("envFrom = %+v, want the ConfigMap %s", c.EnvFrom, cm.Name)
	}
	if _, ok := cm.Data["CERTD_KEK"]; ok {
		t.Error("the ConfigMap holds CERTD_KEK")
	}
	if _, ok := env["CERTD_KEK"]; ok {
		t.Error("the container's env holds CERTD_KEK; mount the Secret and set CERTD_KEK_FILE")
	}
	for k, v := range cm.Data {
		if looksLikeKey(v) || strings.Contains(strings.ToUpper(k), "PASSWORD") {
			t.Errorf("ConfigMap key %s looks like a secret", k)
		}
	}
	u := checkDatabaseURL(t, "ConfigMap", cm.Data["CERTD_DATABASE_URL"])
	if u.Query().Get("sslmode") != "verify-full" {
		t.Errorf("CERTD_DATABASE_URL sslmode = %q; across a cluster network, verify-full", u.Query().Get("sslmode"))
	}
	if _, err := parsePrefixes(cm.Data["CERTD_TRUSTED_PROXIES"]); err != nil || cm.Data["CERTD_TRUSTED_PROXIES"] == "" {
		t.Errorf("CERTD_TRUSTED_PROXIES %q: want the ingress controller's addresses (%v)", cm.Data["CERTD_TRUSTED_PROXIES"], err)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm
	}
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v
	}
	// secretFile: the file an env var names lies in a read-only mount of a
	// Secret volume that projects it, with a mode the pod's group can read.
	secretFile := func(envName string) {
		t.Helper()
		p := env[envName].Value
		vm, ok := mounts[filepath.Dir(p)]
		v := vols[vm.Name]
		if !ok || v.Secret == nil || !vm.ReadOnly {
			t.Errorf("%s = %q is not in a read-only Secret mount", envName, p)
			return
		}
		if !slices.ContainsFunc(v.Secret.Items, func(it corev1.KeyToPath) bool { return it.Path == filepath.Base(p) }) {
			t.Errorf("%s = %q: Secret %s does not project %s", envName, p, v.Secret.SecretName, filepath.Base(p))
		}
		if m := v.Secret.DefaultMode; m == nil || *m&0o040 == 0 || *m&0o007 != 0 || ps == nil || ps.FSGroup == nil {
			t.Errorf("Secret %s: with a non-root uid, mode 0440 and fsGroup let certd read it and no one else", v.Secret.SecretName)
		}
	}
	secretFile("CERTD_KEK_FILE")
	secretFile("PGPASSFILE")
	if vm, ok := mounts["/tmp"]; !ok || vols[vm.Name].EmptyDir == nil {
		t.Error("/tmp must be an emptyDir: the root file system is read-only and uploads over 16 MB spill to /tmp")
	}
	// Several replicas share PostgreSQL: the data directory is read-only
	// so that a pod without CERTD_DATABASE_URL fails instead of starting a
	// private SQLite register.
	if vm, ok := mounts[cm.Data["CERTD_DATA"]]; !ok || !vm.ReadOnly {
		t.Errorf("the data directory %q must be mounted read-only", cm.Data["CERTD_DATA"])
	}
	// The public log and its local witness are one for all pods: both
	// directories come, writable, from one ReadWriteMany claim of the base.
	for _, dir := range []string{"log", "witness"} {
		p := filepath.Join(cm.Data["CERTD_DATA"], dir)
		vm, ok := mounts[p]
		v := vols[vm.Name]
		if !ok || vm.ReadOnly || v.PersistentVolumeClaim == nil {
			t.Errorf("%s must be a writable mount of the shared claim", p)
			continue
		}
		found := false
		for _, pvc := range m.pvcs {
			if pvc.Name == v.PersistentVolumeClaim.ClaimName && slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteMany) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: claim %s is not a ReadWriteMany claim of the base", p, v.PersistentVolumeClaim.ClaimName)
		}
	}
	if !strings.Contains(readFile(t, filepath.Join(k8sBase, "configmap.yaml")), "SQLite") {
		t.Error("configmap.yaml should say why several replicas need PostgreSQL rather than SQLite")
	}

	// The Service, the budget and the autoscaler find the Deployment's pods.
	if s := labels.SelectorFromSet(svc.Spec.Selector); len(svc.Spec.Selector) == 0 || !s.Matches(podLabels) {
		t.Errorf("Service selector %v does not select the pods %v", svc.Spec.Selector, pod.Labels)
	}
	for _, p := range svc.Spec.Ports {
		if p.TargetPort.String() != "http" {
			t.Errorf("Service port %s targets %s, want the container's http port", p.Name, p.TargetPort.String())
		}
	}
	ps2, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || ps2.Empty() || !ps2.Matches(podLabels) {
		t.Errorf("PodDisruptionBudget selector %v does not select the pods %v", pdb.Spec.Selector, pod.Labels)
	}
	switch {
	case pdb.Spec.MaxUnavailable != nil && pdb.Spec.MaxUnavailable.IntValue() < 1:
		t.Error("maxUnavailable below 1 blocks every node drain")
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.IntValue() >= int(*d.Spec.Replicas):
		t.Error("minAvailable equal to the replica count blocks every node drain")
	case pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil:
		t.Error("the PodDisruptionBudget sets neither maxUnavailable nor minAvailable")
	}
	ref := hpa.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != d.Name {
		t.Errorf("HorizontalPodAutoscaler targets %+v, want the Deployment %s", ref, d.Name)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 || hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas {
		t.Errorf("HorizontalPodAutoscaler replicas %v..%d: keep at least two", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	cpu := slices.IndexFunc(hpa.Spec.Metrics, func(m autoscalingv2.MetricSpec) bool {
		return m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
			m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && m.Resource.Target.AverageUtilization != nil
	})
	if cpu < 0 {
		t.Error("HorizontalPodAutoscaler does not scale on CPU utilization")
	}
}

// TestKustomizeRenders renders the base with kubectl's built-in kustomize,
// as "kubectl apply -k" would, and checks the result as strictly as the
// files: every resource comes out once, and the image is the one the
// kustomization names.
func TestKustomizeRenders(t *testing.T) {
	kubectl := lookPathOrSkip(t, "kubectl")
	out, err := output(t, kubectl, "kustomize", k8sBase)
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", k8sBase, err, out)
	}
	rendered := &manifests{}
	if err := rendered.decode("kubectl kustomize", []byte(out)); err != nil {
		t.Fatal(err)
	}
	files, k, _ := loadBase(t)
	var want []string
	for _, s := range files.kinds {
		if !strings.Contains(s, "/Secret ") {
			want = append(want, s)
		}
	}
	if got := sortedCopy(rendered.kinds); !slices.Equal(got, sortedCopy(want)) {
		t.Errorf("rendered %v, want every resource of the base once: %v", got, sortedCopy(want))
	}
	checkManifests(t, rendered)
	// Overlays set the registry and tag by the image's name.
	if len(k.Images) > 0 {
		t.Errorf("the base sets images %+v; leave that to overlays", k.Images)
	}
	if img := rendered.deployments[0].Spec.Template.Spec.Containers[0].Image; img != "certd" {
		t.Errorf("rendered image %q, want the plain name certd for overlays to replace", img)
	}
}

// TestKustomizeExampleOverlay renders the overlay deploy/README.md tells an
// operator to copy: it must still produce a valid certd with its namespace,
// image and settings applied.
func TestKustomizeExampleOverlay(t *testing.T) {
	kubectl := lookPathOrSkip(t, "kubectl")
	dir := "k8s/overlays/example"
	out, err := output(t, kubectl, "kustomize", dir)
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, out)
	}
	m := &manifests{}
	if err := m.decode(dir, []byte(out)); err != nil {
		t.Fatal(err)
	}
	checkManifests(t, m)
	var k struct {
		kustomization
		Namespace string `json:"namespace"`
		Patches   []any  `json:"patches"`
	}
	if err := yaml.UnmarshalStrict([]byte(readFile(t, filepath.Join(dir, "kustomization.yaml"))), &k); err != nil {
		t.Fatal(err)
	}
	for _, o := range []metav1.Object{m.deployments[0], m.services[0], m.configMaps[0], m.pdbs[0], m.hpas[0]} {
		if o.GetNamespace() != k.Namespace {
			t.Errorf("%s is in namespace %q, want %q", o.GetName(), o.GetNamespace(), k.Namespace)
		}
	}
	img := m.deployments[0].Spec.Template.Spec.Containers[0].Image
	if want := k.Images[0].NewName + ":" + k.Images[0].NewTag; img != want || strings.HasSuffix(img, ":latest") {
		t.Errorf("image %q, want %q (and never latest)", img, want)
	}
	if u := m.configMaps[0].Data["CERTD_PUBLIC_URL"]; !strings.HasPrefix(u, "https://") {
		t.Errorf("CERTD_PUBLIC_URL %q: the example should show an https address", u)
	}
}
