// The API's types, by the names the studio uses. They come from
// host/src/server/openapi.json (generated into schema.d.ts by `npm run
// gen:api`), the document the server's own tests check its answers and the
// engine's workflow model against: the studio does not re-invent them.
import type { components, paths } from './schema';

type Schemas = components['schemas'];

export type WorkflowDefinition = Schemas['WorkflowDefinition'];
export type Trigger = Schemas['Trigger'];
export type NodeSpec = Schemas['NodeSpec'];
export type Connection = Schemas['Connection'];
export type WorkflowHead = Schemas['WorkflowHead'];
export type Workflow = Schemas['Workflow'];
export type ExecutionSummary = Schemas['ExecutionSummary'];
export type ExecutionStatus = Schemas['Status'];
export type Problem = Schemas['Problem'];
export type Execution = Schemas['Execution'];
export type StepRecord = Schemas['StepRecord'];
export type WorkflowVersion = Schemas['WorkflowVersion'];
export type Deployed = Schemas['Deployed'];
export type Plugin = Schemas['Plugin'];
export type PluginNode = Plugin['nodes'][number];
export type Credential = Schemas['Credential'];
export type CredentialType = Schemas['CredentialType'];
export type TestRun = Schemas['TestRun'];
export type Deletion = Schemas['Deletion'];
export type PluginPreview = Schemas['PluginPreview'];
export type RegistryInstalledPlugin = Schemas['RegistryInstalledPlugin'];
export type Upgrades = paths['/api/v1/plugins/upgrade']['post']['responses']['200']['content']['application/json'];
export type Upgrade = Upgrades['plugins'][number];

/** A status change, as `GET /api/v1/executions/events` streams it. */
export interface ExecutionChange {
  id: string;
  workflow_id: string;
  workflow_version: number;
  status: ExecutionStatus;
  created_ms: number;
  finished_ms: number | null;
}
