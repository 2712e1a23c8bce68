// The API's types, by the names the studio uses. They come from
// host/src/server/openapi.json (generated into schema.d.ts by `npm run
// gen:api`), the document the server's own tests check its answers and the
// engine's workflow model against: the studio does not re-invent them.
import type { components } from './schema';

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
