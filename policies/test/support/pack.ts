/**
 * The policy pack as `pulumi preview --policy-pack policies` runs it: @pulumi/pulumi's own policy-pack runner
 * (`cmd/run-policy-pack`, which compiles the pack with ts-node as CommonJS and requires it) started in the pack's
 * directory, then asked over the analyzer gRPC protocol the engine speaks, resource by resource.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import * as grpc from '@grpc/grpc-js';
import * as analyzerGrpc from '@pulumi/pulumi/proto/analyzer_grpc_pb.js';
import * as analyzerProto from '@pulumi/pulumi/proto/analyzer_pb.js';
import * as emptyProto from 'google-protobuf/google/protobuf/empty_pb.js';
import * as structProto from 'google-protobuf/google/protobuf/struct_pb.js';

import type { Candidate } from './validate.js';

export const POLICY_PACK_DIR = fileURLToPath(new URL('../../', import.meta.url));
// Resolved from the pack's directory, as Node resolves it for the runner the CLI starts there.
const RUNNER = createRequire(`${POLICY_PACK_DIR}index.ts`).resolve('@pulumi/pulumi/cmd/run-policy-pack');
const STARTUP_TIMEOUT_MS = 120_000;

export interface Diagnostic {
  readonly policy: string;
  readonly enforcement: 'advisory' | 'mandatory' | 'remediate' | 'disabled';
  readonly message: string;
}

export interface PolicyInfo {
  readonly name: string;
  readonly enforcement: Diagnostic['enforcement'];
}

export interface LoadedPolicyPack {
  readonly name: string;
  readonly policies: readonly PolicyInfo[];
  analyze(candidate: Candidate): Promise<Diagnostic[]>;
  stop(): void;
}

const ENFORCEMENT: Readonly<Record<number, Diagnostic['enforcement']>> = {
  [analyzerProto.EnforcementLevel.ADVISORY]: 'advisory',
  [analyzerProto.EnforcementLevel.MANDATORY]: 'mandatory',
  [analyzerProto.EnforcementLevel.REMEDIATE]: 'remediate',
  [analyzerProto.EnforcementLevel.DISABLED]: 'disabled',
};

function enforcementOf(level: number): Diagnostic['enforcement'] {
  const found = ENFORCEMENT[level];
  if (found === undefined) throw new Error(`the policy pack answered with unknown enforcement level ${level}`);
  return found;
}

/** Waits for the port the pack's analyzer server prints on stdout, or fails with what the runner wrote. */
function analyzerPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      reject(new Error(`the policy pack printed no port within ${STARTUP_TIMEOUT_MS} ms; stderr:\n${stderr}`));
    }, STARTUP_TIMEOUT_MS);
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const port = /^(\d+)\s*$/m.exec(stdout)?.[1];
      if (port !== undefined) {
        clearTimeout(timer);
        resolve(Number(port));
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the policy pack runner exited with ${String(code)} before serving:\n${stdout}${stderr}`));
    });
  });
}

/** Settles a unary gRPC call's callback as a promise. */
function settle<Response>(
  resolve: (response: Response) => void,
  reject: (error: Error) => void,
): (error: grpc.ServiceError | null, response: Response) => void {
  return (error, response) => {
    if (error === null) resolve(response);
    else reject(error);
  };
}

/** Starts the pack the way the Pulumi CLI does and connects to it as the engine would. */
export async function loadPolicyPack(): Promise<LoadedPolicyPack> {
  // The first argument is the engine's address; the runner drops it before requiring the pack.
  const child = spawn(process.execPath, [RUNNER, '127.0.0.1:0', '.'], {
    cwd: POLICY_PACK_DIR,
    // ts-node's compile cache is keyed by file content, not by package.json: it could hide a module-format change.
    env: { ...process.env, TS_NODE_CACHE: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const port = await analyzerPort(child);
    const client = new analyzerGrpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const info = await new Promise<analyzerProto.AnalyzerInfo>((resolve, reject) =>
      client.getAnalyzerInfo(new emptyProto.Empty(), settle(resolve, reject)),
    );
    return {
      name: info.getName(),
      policies: info.getPoliciesList().map((policy) => ({
        name: policy.getName(),
        enforcement: enforcementOf(policy.getEnforcementlevel()),
      })),
      analyze: async (candidate) => {
        const name = candidate.name ?? 'subject';
        const request = new analyzerProto.AnalyzeRequest()
          .setType(candidate.type)
          .setName(name)
          .setUrn(`urn:pulumi:test::slipway::${candidate.type}::${name}`)
          .setProperties(
            structProto.Struct.fromJavaScript(candidate.props as Record<string, structProto.JavaScriptValue>),
          )
          .setOptions(new analyzerProto.AnalyzerResourceOptions().setProtect(candidate.protect ?? false));
        const response = await new Promise<analyzerProto.AnalyzeResponse>((resolve, reject) =>
          client.analyze(request, settle(resolve, reject)),
        );
        return response.getDiagnosticsList().map((diagnostic) => ({
          policy: diagnostic.getPolicyname(),
          enforcement: enforcementOf(diagnostic.getEnforcementlevel()),
          message: diagnostic.getMessage(),
        }));
      },
      stop: () => {
        client.close();
        child.kill();
      },
    };
  } catch (error) {
    child.kill();
    throw error;
  }
}
