// The main journeys of docs/api.md through a client generated from /openapi.json: openapi-fetch
// over the types openapi-typescript wrote from the live document, so a document that cannot
// describe a request or an answer fails to type-check before anything runs.
//   SPINE_URL=http://127.0.0.1:8080 SPINE_ADMIN_PASSWORD=... node generated/out/journey.js
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/spine-api.js";

type Schemas = components["schemas"];
type ErrorBody = Schemas["Error"];

const baseUrl = process.env.SPINE_URL ?? "";
const password = process.env.SPINE_ADMIN_PASSWORD ?? "";
const client = createClient<paths>({ baseUrl });

function check(condition: unknown, what: string): asserts condition {
  if (!condition) throw new Error(`journey: ${what}`);
}

// The one error shape, with the reason programs switch on.
function checkError(error: ErrorBody | undefined, status: number, reason: string): void {
  check(error !== undefined, `an error body for ${reason}`);
  check(error.error.code === status, `code ${status}, got ${error.error.code}`);
  const detail = error.error.details[0];
  check(detail !== undefined, "an ErrorInfo detail");
  check(detail["@type"] === "type.googleapis.com/google.rpc.ErrorInfo", "the detail's type");
  check(detail.reason === reason, `reason ${reason}, got ${detail.reason}`);
  check(detail.domain === "spine", "domain spine");
}

async function main(): Promise<void> {
  check(baseUrl !== "" && password !== "", "SPINE_URL and SPINE_ADMIN_PASSWORD are set");

  // An error case first: a wrong password is 401 in the error shape.
  const refused = await client.POST("/api/auth/login", {
    body: { username: "admin", password: "not-the-password" },
  });
  check(refused.response.status === 401, `wrong password: 401, got ${refused.response.status}`);
  checkError(refused.error, 401, "UNAUTHENTICATED");

  const login = await client.POST("/api/auth/login", { body: { username: "admin", password } });
  check(login.data !== undefined, `login: ${login.response.status}`);
  const tokens: Schemas["spine.v1.SessionTokens"] = login.data;
  check(tokens.tokenType === "Bearer", "a bearer token");
  const headers = { Authorization: `Bearer ${tokens.accessToken}` };

  const me = await client.GET("/api/auth/me", { headers });
  check(me.data?.username === "admin" && me.data.role === "admin", "GET /api/auth/me");

  // Thoughts: create, list, get; another id is 404 THOUGHT_NOT_FOUND.
  const created = await client.POST("/api/thoughts", {
    headers,
    body: { text: "Typed clients need a real schema", tags: ["openapi"] },
  });
  check(created.response.status === 201 && created.data !== undefined, "POST /api/thoughts");
  const thought: Schemas["spine.v1.Thought"] = created.data;
  check(created.response.headers.get("Location") === `/api/thoughts/${thought.id}`, "Location");
  const listed = await client.GET("/api/thoughts", {
    headers,
    params: { query: { tag: "openapi", pageSize: 10 } },
  });
  check(listed.data?.thoughts.some((t) => t.id === thought.id), "the thought is listed");
  const got = await client.GET("/api/thoughts/{id}", { headers, params: { path: { id: thought.id } } });
  check(got.data?.text === thought.text && got.data.tags[0] === "openapi", "GET the thought");
  const missing = await client.GET("/api/thoughts/{id}", {
    headers,
    params: { path: { id: "999999999" } },
  });
  check(missing.response.status === 404, `unknown thought: 404, got ${missing.response.status}`);
  checkError(missing.error, 404, "THOUGHT_NOT_FOUND");

  // A pipeline, built as the typed definition, and a run that waits for its end (200).
  const definition: Schemas["spine.v1.PipelineDefinitionV1"] = {
    schemaVersion: 1,
    steps: [
      {
        id: "draft",
        llm: { model: "stub", prompt: "Summarise: {{input.text}}", maxTokens: 8 },
        timeoutMs: 30000,
        retry: { maxAttempts: 2, initialBackoffMs: 100, backoffCoefficient: 2, maxBackoffMs: 1000 },
      },
      { id: "shout", plugin: { name: "uppercase", input: { text: "{{steps.draft.output.text}}" } } },
    ],
    output: { summary: "{{steps.shout.output.text}}" },
  };
  const pipeline = await client.POST("/api/pipelines", {
    headers,
    body: { name: "openapi journey", definition },
  });
  check(pipeline.response.status === 201 && pipeline.data !== undefined, "POST /api/pipelines");
  const run = await client.POST("/api/pipelines/{pipelineId}/runs", {
    headers,
    params: { path: { pipelineId: pipeline.data.id } },
    body: { input: { text: "the quick brown fox" }, waitMs: 30000 },
  });
  check(run.data !== undefined, `POST runs: ${run.response.status}`);
  check(run.response.status === 200, `a run that ends within waitMs: 200, got ${run.response.status}`);
  const finished: Schemas["spine.v1.Run"] = run.data;
  check(finished.state === "SUCCEEDED", `the run succeeded, got ${finished.state}`);
  check(finished.steps.length === 2 && finished.steps.every((s) => s.state === "SUCCEEDED"),
        "both steps succeeded");
  const output = finished.output as { summary?: unknown } | undefined;
  check(typeof output?.summary === "string" && output.summary === output.summary.toUpperCase(),
        "the output is the plugin's upper-cased text");
  const again = await client.GET("/api/runs/{id}", { headers, params: { path: { id: finished.id } } });
  check(again.data?.state === "SUCCEEDED", "GET /api/runs/{id}");

  // A definition that breaks a rule: 400 INVALID_PIPELINE naming the place.
  const invalid = await client.POST("/api/runs", {
    headers,
    body: {
      definition: { schemaVersion: 1, steps: [{ id: "1bad", plugin: { name: "uppercase" } }] },
      input: {},
    },
  });
  check(invalid.response.status === 400, `an invalid definition: 400, got ${invalid.response.status}`);
  checkError(invalid.error, 400, "INVALID_PIPELINE");
  check(invalid.error?.error.details[0]?.metadata["field"] === "steps[0].id", "metadata.field");

  console.log("openapi-client journey: ok (login, thoughts, pipeline run with waitMs, errors)");
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
