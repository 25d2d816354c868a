package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Render runs kustomize (the library kubectl and the kustomize binary use, so no
// binary and no network) on the kustomization in dir and returns its output.
func Render(fsys filesys.FileSystem, dir string) ([]byte, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return m.AsYaml()
}

// Object is one decoded document of the output.
type Object struct {
	APIVersion, Kind, Name string
	Value                  any // *appsv1.Deployment, *corev1.Secret, *ScaledObject, …
}

// kinds are the only documents the manifests may contain, each decoded into the
// type the API server would decode it into. A kind not listed is an error, so
// nothing reaches a cluster unchecked.
var kinds = map[string]func() any{
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                              func() any { return &corev1.Secret{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"v1/Namespace":                           func() any { return &corev1.Namespace{} },
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"batch/v1/Job":                           func() any { return &batchv1.Job{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"keda.sh/v1alpha1/ScaledObject":          func() any { return &ScaledObject{} },
	"keda.sh/v1alpha1/TriggerAuthentication": func() any { return &TriggerAuthentication{} },
}

// Decode splits a YAML stream and decodes every document strictly: an unknown
// or duplicated field (a typo, a field at the wrong level, one of a newer API)
// is an error, as `kubectl apply --validate=strict` would make it.
func Decode(stream []byte) ([]Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	var objs []Object
	var errs []error
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", i, err))
			continue
		}
		id := head.APIVersion + "/" + head.Kind
		newObj, ok := kinds[id]
		if !ok {
			errs = append(errs, fmt.Errorf("%s %q: not a kind this check knows (add it to kinds, with its type)", id, head.Metadata.Name))
			continue
		}
		v := newObj()
		if err := decodeStrict(doc, v); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", head.Kind, head.Metadata.Name, err))
			continue
		}
		objs = append(objs, Object{APIVersion: head.APIVersion, Kind: head.Kind, Name: head.Metadata.Name, Value: v})
	}
	return objs, errors.Join(errs...)
}

// decodeStrict decodes one YAML document the way the API server does with
// strict field validation: keys are matched case-sensitively (encoding/json
// alone would take "targetport" for targetPort), and unknown or duplicated
// fields are errors, each named by its path.
func decodeStrict(doc []byte, v any) error {
	js, err := yaml.YAMLToJSONStrict(doc) // rejects a key repeated in one YAML map
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(js, v)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// ScaledObject is KEDA's keda.sh/v1alpha1 ScaledObject, the fields these
// manifests may use (KEDA's Go module is too heavy to import for one type; an
// unknown field here fails the strict decoding like one in a k8s type).
type ScaledObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace,omitempty"`
		Labels      map[string]string `json:"labels,omitempty"`
		Annotations map[string]string `json:"annotations,omitempty"`
	} `json:"metadata"`
	Spec struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion,omitempty"`
			Kind       string `json:"kind,omitempty"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount *int32 `json:"minReplicaCount,omitempty"`
		MaxReplicaCount *int32 `json:"maxReplicaCount,omitempty"`
		PollingInterval *int32 `json:"pollingInterval,omitempty"`
		CooldownPeriod  *int32 `json:"cooldownPeriod,omitempty"`
		Triggers        []struct {
			Type              string            `json:"type"`
			Name              string            `json:"name,omitempty"`
			Metadata          map[string]string `json:"metadata"`
			AuthenticationRef *struct {
				Name string `json:"name"`
				Kind string `json:"kind,omitempty"`
			} `json:"authenticationRef,omitempty"`
		} `json:"triggers"`
	} `json:"spec"`
}

// TriggerAuthentication is KEDA's, for a Redis with a password.
type TriggerAuthentication struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace,omitempty"`
		Labels    map[string]string `json:"labels,omitempty"`
	} `json:"metadata"`
	Spec struct {
		SecretTargetRef []struct {
			Parameter string `json:"parameter"`
			Name      string `json:"name"`
			Key       string `json:"key"`
		} `json:"secretTargetRef"`
	} `json:"spec"`
}
