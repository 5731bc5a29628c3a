package check

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Workload is a Deployment or StatefulSet as far as the checks care: a
// name, a replica count and the pods it makes.
type Workload struct {
	Kind, Name string
	Replicas   int32
	Pod        corev1.PodTemplateSpec
	// ServiceName is a StatefulSet's headless Service: pod N is
	// Name-N.ServiceName.
	ServiceName string
}

// Objects indexes rendered objects by kind and name.
type Objects struct {
	Workloads  []Workload
	Services   map[string]*corev1.Service
	ConfigMaps map[string]*corev1.ConfigMap
	Secrets    map[string]*corev1.Secret
	All        []runtime.Object
}

// Index sorts rendered objects into Objects.
func Index(objs []runtime.Object) Objects {
	o := Objects{Services: map[string]*corev1.Service{}, ConfigMaps: map[string]*corev1.ConfigMap{},
		Secrets: map[string]*corev1.Secret{}, All: objs}
	for _, obj := range objs {
		switch v := obj.(type) {
		case *appsv1.Deployment:
			o.Workloads = append(o.Workloads, Workload{"Deployment", v.Name, replicas(v.Spec.Replicas), v.Spec.Template, ""})
		case *appsv1.StatefulSet:
			o.Workloads = append(o.Workloads, Workload{"StatefulSet", v.Name, replicas(v.Spec.Replicas), v.Spec.Template, v.Spec.ServiceName})
		case *corev1.Service:
			o.Services[v.Name] = v
		case *corev1.ConfigMap:
			o.ConfigMaps[v.Name] = v
		case *corev1.Secret:
			o.Secrets[v.Name] = v
		}
	}
	return o
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1 // the API's default
	}
	return *r
}

// Matches reports whether labels carry every pair of selector.
func Matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// PortNumber resolves a container port by name or number.
func PortNumber(c corev1.Container, name string, number int32) (int32, bool) {
	for _, p := range c.Ports {
		if (name != "" && p.Name == name) || (name == "" && p.ContainerPort == number) {
			return p.ContainerPort, true
		}
	}
	return 0, false
}
