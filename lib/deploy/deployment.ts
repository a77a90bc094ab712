/** The deployment record and its status; the rules that move it live in ./lifecycle. */
export type {
  ApprovalMode,
  Deployment,
  DeploymentStatus,
  ReleaseResult,
  ReleaseStatus,
} from './lifecycle';
