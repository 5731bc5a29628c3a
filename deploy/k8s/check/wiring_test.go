package check

import (
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// Every Service selects pods of some workload, on ports those pods declare.
func TestServicesSelectPodsOnDeclaredPorts(t *testing.T) {
	for name, svc := range rendered.Services {
		var pods []Workload
		for _, w := range rendered.Workloads {
			if Matches(svc.Spec.Selector, w.Pod.Labels) {
				pods = append(pods, w)
			}
		}
		if len(pods) == 0 {
			t.Errorf("Service %s selects %v: no workload's pods", name, svc.Spec.Selector)
			continue
		}
		for _, p := range svc.Spec.Ports {
			for _, w := range pods {
				if !declares(w.Pod.Spec.Containers, p.TargetPort) {
					t.Errorf("Service %s port %s: target %s is not a container port of %s", name, p.Name, p.TargetPort.String(), w.Name)
				}
			}
		}
	}
}

func declares(cs []corev1.Container, target intstr.IntOrString) bool {
	for _, c := range cs {
		if _, ok := PortNumber(c, target.StrVal, target.IntVal); ok {
			return true
		}
	}
	return false
}

// Every URL in a container's environment (Redis, the shards, the origin,
// the lb's backends) names a Service, or a StatefulSet pod through its
// headless Service, and one of that Service's ports.
func TestURLsNameServicesAndTheirPorts(t *testing.T) {
	n := 0
	for _, w := range rendered.Workloads {
		for _, c := range w.Pod.Spec.Containers {
			for _, e := range c.Env {
				if !strings.Contains(e.Value, "://") {
					continue
				}
				for _, item := range strings.Split(e.Value, ",") {
					n++
					if err := resolves(item); err != "" {
						t.Errorf("%s %s: %s: %s", w.Kind, w.Name, e.Name, err)
					}
				}
			}
		}
	}
	if n < 7 { // lb backends, redis, 3 shards, orders, 3 edge origins
		t.Errorf("only %d URLs found in the environment", n)
	}
}

// resolves explains why a URL's host and port name no Service, or is "".
func resolves(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Port() == "" {
		return raw + ": not a URL with a port"
	}
	port, _ := strconv.Atoi(u.Port())
	host := u.Hostname()
	svcName := host
	if pod, svc, ok := strings.Cut(host, "."); ok {
		svcName = svc
		if !podOf(pod, svc) {
			return raw + ": no StatefulSet makes pod " + pod + " behind Service " + svc
		}
	}
	svc, ok := rendered.Services[svcName]
	if !ok {
		return raw + ": no Service " + svcName
	}
	for _, p := range svc.Spec.Ports {
		if p.Port == int32(port) {
			return ""
		}
	}
	return raw + ": Service " + svcName + " has no port " + u.Port()
}

// podOf reports whether pod is NAME-N of a StatefulSet governed by svc.
func podOf(pod, svc string) bool {
	for _, w := range rendered.Workloads {
		i, err := strconv.Atoi(strings.TrimPrefix(pod, w.Name+"-"))
		if w.Kind == "StatefulSet" && w.ServiceName == svc && strings.HasPrefix(pod, w.Name+"-") && err == nil && i < int(w.Replicas) {
			return true
		}
	}
	return false
}

// Every container states what it needs and what it may take: the
// scheduler packs by requests, the HPA scales on CPU against them.
func TestEveryContainerHasRequestsAndLimits(t *testing.T) {
	for _, w := range rendered.Workloads {
		for _, c := range w.Pod.Spec.Containers {
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, hasReq := c.Resources.Requests[r]
				lim, hasLim := c.Resources.Limits[r]
				if !hasReq || !hasLim || req.Cmp(lim) > 0 {
					t.Errorf("%s %s/%s: %s request %v limit %v, want both, request <= limit", w.Kind, w.Name, c.Name, r, req.String(), lim.String())
				}
			}
		}
	}
}

// The HPA scales the api Deployment from its replica count up; each PDB
// covers a workload with more than one replica, and never all of them.
func TestAutoscalerAndDisruptionBudgets(t *testing.T) {
	byName := map[string]Workload{}
	for _, w := range rendered.Workloads {
		byName[w.Kind+"/"+w.Name] = w
	}
	var hpas, pdbs int
	for _, obj := range rendered.All {
		switch v := obj.(type) {
		case *autoscalingv2.HorizontalPodAutoscaler:
			hpas++
			w, ok := byName[v.Spec.ScaleTargetRef.Kind+"/"+v.Spec.ScaleTargetRef.Name]
			if !ok || v.Spec.ScaleTargetRef.Name != "api" {
				t.Errorf("HPA %s scales %v, want the api Deployment", v.Name, v.Spec.ScaleTargetRef)
				continue
			}
			if v.Spec.MinReplicas == nil || *v.Spec.MinReplicas != w.Replicas || v.Spec.MaxReplicas <= w.Replicas {
				t.Errorf("HPA %s: min %v max %d, want min = the Deployment's %d replicas < max", v.Name, v.Spec.MinReplicas, v.Spec.MaxReplicas, w.Replicas)
			}
		case *policyv1.PodDisruptionBudget:
			pdbs++
			var covered []Workload
			for _, w := range rendered.Workloads {
				if Matches(v.Spec.Selector.MatchLabels, w.Pod.Labels) {
					covered = append(covered, w)
				}
			}
			if len(covered) != 1 || covered[0].Replicas < 2 {
				t.Errorf("PDB %s covers %d workloads, want one with 2 or more replicas", v.Name, len(covered))
				continue
			}
			if m := v.Spec.MinAvailable; m != nil && m.IntValue() >= int(covered[0].Replicas) {
				t.Errorf("PDB %s: minAvailable %s of %d replicas blocks every eviction", v.Name, m.String(), covered[0].Replicas)
			}
		}
	}
	if hpas != 1 || pdbs < 2 {
		t.Errorf("%d HPAs and %d PDBs, want 1 and at least 2 (lb, api)", hpas, pdbs)
	}
}

// Prometheus keeps pods annotated for scraping and names their job after
// their component label: every scalelab pod must carry both, with the
// admin port, so that the dashboards' jobs (api, lb, edge, origin) exist.
func TestPrometheusScrapesEveryServiceOnItsAdminPort(t *testing.T) {
	// The ConfigMap the prometheus pods mount (its name carries kustomize's hash).
	var cm *corev1.ConfigMap
	for _, w := range rendered.Workloads {
		for _, v := range w.Pod.Spec.Volumes {
			if w.Name == "prometheus" && v.ConfigMap != nil {
				cm = rendered.ConfigMaps[v.ConfigMap.Name]
			}
		}
	}
	if cm == nil {
		t.Fatal("the prometheus workload mounts no ConfigMap that exists")
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName             string `json:"job_name"`
			KubernetesSDConfigs []struct {
				Role string `json:"role"`
			} `json:"kubernetes_sd_configs"`
		} `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data["prometheus.yml"]), &cfg); err != nil {
		t.Fatal(err)
	}
	podSD := false
	for _, sc := range cfg.ScrapeConfigs {
		for _, sd := range sc.KubernetesSDConfigs {
			podSD = podSD || sd.Role == "pod"
		}
	}
	if !podSD {
		t.Fatal("prometheus.yml discovers no pods")
	}
	for _, w := range rendered.Workloads {
		for _, c := range w.Pod.Spec.Containers {
			name := serviceImage(t, c.Image)
			if name == "" {
				continue
			}
			a, l := w.Pod.Annotations, w.Pod.Labels
			admin, _ := PortNumber(c, "admin", 0)
			if a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != strconv.Itoa(int(admin)) || admin == 0 {
				t.Errorf("%s %s: scrape annotations %v, want scrape true on the admin port %d", w.Kind, w.Name, a, admin)
			}
			if l["app.kubernetes.io/component"] != name {
				t.Errorf("%s %s: component label %q, want %q (Prometheus's job)", w.Kind, w.Name, l["app.kubernetes.io/component"], name)
			}
		}
	}
}

// kind maps every NodePort of the overlay to the host port compose uses.
func TestKindMapsEveryNodePort(t *testing.T) {
	b, err := os.ReadFile(overlay + "/kind-cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cluster struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
		Nodes      []struct {
			Role              string `json:"role"`
			ExtraPortMappings []struct {
				ContainerPort int32  `json:"containerPort"`
				HostPort      int32  `json:"hostPort"`
				ListenAddress string `json:"listenAddress"`
			} `json:"extraPortMappings"`
		} `json:"nodes"`
	}
	if err := yaml.UnmarshalStrict(b, &cluster); err != nil {
		t.Fatal(err)
	}
	mapped := map[int32]int32{}
	for _, n := range cluster.Nodes {
		for _, m := range n.ExtraPortMappings {
			mapped[m.ContainerPort] = m.HostPort
		}
	}
	want := map[string]int32{"lb/http": 8000, "lb/l4": 8001, "lb/https": 8443, "edge-sydney/http": 8081,
		"edge-newyork/http": 8082, "origin/http": 8090, "prometheus/web": 9090}
	got := map[string]int32{}
	for name, svc := range rendered.Services {
		for _, p := range svc.Spec.Ports {
			if p.NodePort != 0 {
				got[name+"/"+p.Name] = mapped[p.NodePort]
			}
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: host port %d, want %d", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("node ports %v, want %v", got, want)
	}
}

// Every ConfigMap, Secret and ServiceAccount a pod refers to exists (kustomize
// has rewritten generated names to their hashed form).
func TestPodReferencesExist(t *testing.T) {
	accounts := map[string]bool{"": true, "default": true}
	for _, obj := range rendered.All {
		if sa, ok := obj.(*corev1.ServiceAccount); ok {
			accounts[sa.Name] = true
		}
	}
	for _, w := range rendered.Workloads {
		for _, v := range w.Pod.Spec.Volumes {
			if v.ConfigMap != nil && rendered.ConfigMaps[v.ConfigMap.Name] == nil {
				t.Errorf("%s %s: volume %s names ConfigMap %q, which does not exist", w.Kind, w.Name, v.Name, v.ConfigMap.Name)
			}
			if v.Secret != nil && rendered.Secrets[v.Secret.SecretName] == nil {
				t.Errorf("%s %s: volume %s names Secret %q, which does not exist", w.Kind, w.Name, v.Name, v.Secret.SecretName)
			}
		}
		if !accounts[w.Pod.Spec.ServiceAccountName] {
			t.Errorf("%s %s: ServiceAccount %q does not exist", w.Kind, w.Name, w.Pod.Spec.ServiceAccountName)
		}
	}
}
