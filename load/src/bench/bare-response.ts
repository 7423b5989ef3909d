/** What the bare server answers: the app's cached product read, captured once by the benchmark runner. */
export interface BareResponse {
  readonly contentType: string;
  readonly body: string;
}

/**
 * Reads the response file the runner writes ({ contentType, body }).
 * @throws {Error} naming the file and what is missing.
 */
export function parseBareResponse(text: string, source: string): { body: Buffer; contentType: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source} is not JSON (${error instanceof Error ? error.message : String(error)})`, {
      cause: error,
    });
  }
  const { contentType, body } = (parsed ?? {}) as Partial<BareResponse>;
  if (typeof contentType !== 'string' || typeof body !== 'string') {
    throw new Error(`${source} must hold {"contentType": string, "body": string}; found ${text.slice(0, 120)}`);
  }
  return { body: Buffer.from(body), contentType };
}
