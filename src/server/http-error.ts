// What the server answers when a request fails: an HTTP status with OpenAI's error body
// `{ error: { message, type, param, code } }`, so that OpenAI clients raise their usual error classes
// (BadRequestError, AuthenticationError, RateLimitError…). Engine errors are mapped here by class and code.
import { AbortError, ContextError, EngineCrashedError, EngineError, GrammarError, OptionError, TernionError } from "../runtime/errors.ts";

/** OpenAI's error `type` values that this server uses. */
export type OpenAiErrorType = "invalid_request_error" | "authentication_error" | "rate_limit_error" | "server_error";

export interface OpenAiErrorBody {
  error: { message: string; type: OpenAiErrorType; param: string | null; code: string | null };
}

/** A request answered with an error status; `param` names the request field at fault, when one is. */
export class HttpError extends TernionError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly options: { type?: OpenAiErrorType; param?: string; headers?: Record<string, string> } = {},
  ) {
    super(code, message);
  }

  body(): OpenAiErrorBody {
    const type = this.options.type ?? (this.status >= 500 ? "server_error" : "invalid_request_error");
    return { error: { message: this.message, type, param: this.options.param ?? null, code: this.code.toLowerCase() } };
  }
}

/** A bad request field: 400 naming it. */
export function badField(param: string, message: string, code = "invalid_value"): HttpError {
  return new HttpError(400, code, `${param}: ${message}`, { param });
}

/**
 * Any error a request handler met, as the HttpError to answer with. `grammarField` is the request field whose
 * grammar or schema the generation follows (`response_format`, `grammar`, `json_schema`): a GrammarError names it.
 */
export function toHttpError(err: unknown, grammarField = "response_format"): HttpError {
  if (err instanceof HttpError) return err;
  // The engine refuses options (unknown, unsupported, out of range) and prompts longer than the context.
  if (err instanceof OptionError) return new HttpError(400, err.code, err.message, { param: requestField(err.option) });
  // A grammar or schema the request gave that does not compile, or that no token can continue.
  if (err instanceof GrammarError) return new HttpError(400, err.code, err.message, { param: grammarField });
  if (err instanceof ContextError) return new HttpError(400, "CONTEXT_LENGTH_EXCEEDED", err.message);
  if (err instanceof AbortError) return new HttpError(503, "ABORTED", err.message);
  if (err instanceof EngineCrashedError) return new HttpError(503, err.code, `the model's worker stopped: ${err.message}`);
  if (err instanceof EngineError || err instanceof TernionError) return new HttpError(500, err.code, err.message);
  return new HttpError(500, "INTERNAL_ERROR", err instanceof Error ? err.message : String(err));
}

// The engine names generate's options in its own spelling (camelCase); the request spelled them in OpenAI's
// snake_case. Chat request fields reach the engine in the request's spelling and pass through unchanged.
const ENGINE_TO_REQUEST: Record<string, string> = {
  maxTokens: "max_tokens",
  topP: "top_p",
  topK: "top_k",
  minP: "min_p",
  frequencyPenalty: "frequency_penalty",
  presencePenalty: "presence_penalty",
  repeatPenalty: "repetition_penalty",
  ignoreEos: "ignore_eos",
  contextShift: "context_shift",
};

function requestField(option: string | undefined): string | undefined {
  return option === undefined ? undefined : (ENGINE_TO_REQUEST[option] ?? option);
}
