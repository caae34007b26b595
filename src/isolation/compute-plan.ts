/**
 * The compute and network plan: the Kubernetes objects that isolate a tenant, rendered
 * for an operator to apply (no cluster is contacted). Dedicated tenants get a Namespace
 * with a ResourceQuota and LimitRange from their quotas and a default-deny NetworkPolicy;
 * shared tenants get labels and a NetworkPolicy that admits only same-tenant traffic in
 * the shared namespace, plus their quota share recorded in a ConfigMap.
 */
import type { IsolationContext, ResourcePlan } from './strategy.js';

const TENANT_LABEL = 'tenancy.io/tenant';

type K8sObject = Record<string, unknown>;

function cpu(millicores: number): string {
  return `${millicores}m`;
}

/** Kubernetes objects for one tenant. */
export function computePlan(ctx: IsolationContext, plan: ResourcePlan): K8sObject[] {
  const labels = { [TENANT_LABEL]: ctx.tenantId, 'tenancy.io/plan': ctx.plan, 'tenancy.io/region': ctx.region };
  const ns = plan.compute.namespace;
  const dnsEgress = {
    to: [{ namespaceSelector: {}, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
    ports: [
      { protocol: 'UDP', port: 53 },
      { protocol: 'TCP', port: 53 },
    ],
  };
  if (plan.compute.dedicatedNamespace) {
    const memoryMi = Math.max(256, Math.round(ctx.quotas.computeLimitMillicores * 2));
    return [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels } },
      {
        apiVersion: 'v1',
        kind: 'ResourceQuota',
        metadata: { name: 'tenant-quota', namespace: ns, labels },
        spec: {
          hard: {
            'limits.cpu': cpu(ctx.quotas.computeLimitMillicores),
            'requests.cpu': cpu(ctx.quotas.computeLimitMillicores),
            'limits.memory': `${memoryMi}Mi`,
            'requests.storage': String(ctx.quotas.storageLimitBytes),
            pods: String(Math.max(1, Math.ceil(ctx.quotas.computeLimitMillicores / 250))),
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'LimitRange',
        metadata: { name: 'tenant-defaults', namespace: ns, labels },
        spec: {
          limits: [
            {
              type: 'Container',
              default: { cpu: '500m', memory: '512Mi' },
              defaultRequest: { cpu: '100m', memory: '128Mi' },
              max: { cpu: cpu(ctx.quotas.computeLimitMillicores) },
            },
          ],
        },
      },
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'default-deny', namespace: ns, labels },
        spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
      },
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'allow-same-namespace-and-dns', namespace: ns, labels },
        spec: {
          podSelector: {},
          policyTypes: ['Ingress', 'Egress'],
          ingress: [{ from: [{ podSelector: {} }] }],
          egress: [{ to: [{ podSelector: {} }] }, dnsEgress],
        },
      },
    ];
  }
  return [
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: `tenant-${ctx.tenantId}-isolation`, namespace: ns, labels },
      spec: {
        podSelector: { matchLabels: { [TENANT_LABEL]: ctx.tenantId } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{ from: [{ podSelector: { matchLabels: { [TENANT_LABEL]: ctx.tenantId } } }] }],
        egress: [{ to: [{ podSelector: { matchLabels: { [TENANT_LABEL]: ctx.tenantId } } }] }, dnsEgress],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `tenant-${ctx.tenantId}-quota-share`, namespace: ns, labels },
      data: {
        computeLimitMillicores: String(ctx.quotas.computeLimitMillicores),
        networkBandwidthMbps: String(ctx.quotas.networkBandwidthMbps),
        maxConcurrentRequests: String(ctx.quotas.maxConcurrentRequests),
        podLabel: `${TENANT_LABEL}=${ctx.tenantId}`,
      },
    },
  ];
}
