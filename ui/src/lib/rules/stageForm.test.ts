import { describe, expect, it, vi } from "vitest";
import type { StageSettings } from "../bindings/StageSettings";
import {
  cachingAvailable,
  checkForm,
  copyVariables,
  emptyForm,
  formFromSettings,
  listErrors,
  toSettingsInput,
  withRouting,
} from "./stageForm";

const form = () => ({ ...emptyForm("us-east-1"), name: "prod" });

describe("caching (R13)", () => {
  it("is offered with API Gateway only", () => {
    expect(cachingAvailable("apiGateway")).toBe(true);
    expect(cachingAvailable("loadBalancer")).toBe(false);
  });
  it("turns off when the load balancer is chosen", () => {
    const cached = { ...form(), caching: true };
    expect(withRouting(cached, "loadBalancer").caching).toBe(false);
    expect(withRouting(cached, "apiGateway").caching).toBe(true);
  });
  it("with the load balancer is an error on the caching field", () => {
    const errors = checkForm({ ...form(), routing: "loadBalancer", caching: true }, []);
    expect(errors.caching).toContain("API Gateway");
  });
  it("is never sent on with the load balancer", () => {
    expect(toSettingsInput({ ...form(), routing: "loadBalancer", caching: true }).caching).toBe(false);
  });
});

describe("stage name (R14)", () => {
  it("must be unique within the stack", () => {
    expect(checkForm(form(), ["dev", "prod"]).name).toContain("already has a stage");
  });
  it("follows the pattern and is not latest", () => {
    expect(checkForm({ ...form(), name: "Prod" }, []).name).toBeDefined();
    expect(checkForm({ ...form(), name: "latest" }, []).name).toContain("reserved");
    expect(checkForm({ ...form(), name: "" }, []).name).toContain("required");
    expect(checkForm(form(), ["dev"])).toEqual({});
  });
});

describe("environment variables", () => {
  const row = (name: string) => ({ name, value: "x", secret: false, keychainRef: null });
  it("names follow the pattern, are unique and never Stageline's own", () => {
    const errors = checkForm({ ...form(), buildEnv: [row("OK"), row("1X"), row("OK")], runtimeEnv: [row("STAGE_NAME")] }, []);
    expect(errors["buildEnv.0.name"]).toBeUndefined();
    expect(errors["buildEnv.1.name"]).toBeDefined();
    expect(errors["buildEnv.2.name"]).toContain("twice");
    expect(errors["runtimeEnv.0.name"]).toContain("cannot be overridden");
  });
  it("an existing RDS database needs its identifier", () => {
    expect(checkForm({ ...form(), database: "existingRds" }, [])["database.identifier"]).toBeDefined();
  });
});

describe("copy variables from stage", () => {
  const prod: StageSettings = {
    name: "prod",
    region: "us-east-1",
    database: { kind: "none" },
    requiresApproval: true,
    routing: "apiGateway",
    caching: false,
    buildEnv: [{ name: "NODE_ENV", value: { kind: "plain", value: "production" } }],
    runtimeEnv: [{ name: "API_KEY", value: { kind: "secret", keychainRef: "env/1" } }],
    desiredCount: 2,
    containerPort: 80,
    healthPath: "/ping",
    cpuArchitecture: "x86_64",
    submodulesAndLfs: false,
    runWithoutSandbox: true,
    verification: {
      healthCheck: true,
      healthTimeoutSecs: 120,
      smokeTests: true,
      soakMinutes: 15,
      alarms: ["api-5xx", "latency-p99"],
      rollBack: true,
    },
    approvalExpiryHours: 48,
    deployWindow: { days: ["tuesday", "thursday"], startHour: 10, endHour: 16, timeZone: "Europe/Berlin" },
    approvalPolicy: { approvers: ["arn:aws:sts::123456789012:assumed-role/Release/*"], noSelfApproval: true },
  };
  it("a deploy window survives the form and is copied (R21)", () => {
    expect(toSettingsInput(formFromSettings(prod)).deployWindow).toEqual(prod.deployWindow);
    expect(toSettingsInput(formFromSettings(prod)).approvalPolicy).toEqual(prod.approvalPolicy);
    expect(toSettingsInput(copyVariables(form(), prod)).deployWindow).toEqual(prod.deployWindow);
    expect(toSettingsInput(form()).deployWindow).toBeUndefined();
    expect(checkForm({ ...form(), name: "p", windowOn: true, windowDays: [], windowStart: 17, windowEnd: 9 }, [])).toMatchObject({
      "deployWindow.days": expect.any(String),
      "deployWindow.hours": expect.any(String),
    });
  });
  it("copying from a stage copies its verification and approval expiry (R18–R20)", () => {
    const copied = toSettingsInput(copyVariables(form(), prod));
    expect(copied.verification).toEqual(prod.verification);
    expect(copied.approvalExpiryHours).toBe(48);
    expect(toSettingsInput(formFromSettings(prod)).verification).toEqual(prod.verification);
  });
  it("verification limits are the backend's, with its field names", () => {
    const errors = checkForm(
      { ...form(), name: "canary", healthTimeoutSecs: 5, soakMinutes: -1, alarms: "a\n\na", approvalExpiryHours: 0 },
      [],
    );
    expect(Object.keys(errors).sort()).toEqual([
      "approvalExpiryHours",
      "verification.alarms.1",
      "verification.healthTimeoutSecs",
      "verification.soakMinutes",
    ]);
  });
  it("a stage's own sandbox setting survives the form and is not copied with variables", () => {
    expect(toSettingsInput(formFromSettings(prod)).runWithoutSandbox).toBe(true);
    expect(toSettingsInput(copyVariables(form(), prod)).runWithoutSandbox).toBe(false);
  });
  it("copies plain values and secrets by reference, never by value", () => {
    const copied = copyVariables(form(), prod);
    expect(copied.buildEnv).toEqual([{ name: "NODE_ENV", value: "production", secret: false, keychainRef: null }]);
    expect(copied.runtimeEnv).toEqual([{ name: "API_KEY", value: "", secret: true, keychainRef: "env/1" }]);
    const input = toSettingsInput(copied);
    expect(input.runtimeEnv[0].value).toEqual({ kind: "keepSecret", keychainRef: "env/1" });
  });
  it("a copied variable replaces one of the same name", () => {
    const own = { ...form(), buildEnv: [{ name: "NODE_ENV", value: "dev", secret: false, keychainRef: null }] };
    expect(copyVariables(own, prod).buildEnv).toHaveLength(1);
  });
  it("submodules and Git LFS files are on for a new stage and keep an existing stage's choice", () => {
    expect(toSettingsInput(form()).submodulesAndLfs).toBe(true);
    expect(toSettingsInput(formFromSettings(prod)).submodulesAndLfs).toBe(false);
  });
  it("a team stack's secret stays in Secrets Manager by its ARN unless a new value is typed", () => {
    const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:stageline/shop/prod/runtime/API_KEY";
    const team = { ...prod, runtimeEnv: [{ name: "API_KEY", value: { kind: "teamSecret" as const, arn } }] };
    const kept = formFromSettings(team);
    expect(toSettingsInput(kept).runtimeEnv[0].value).toEqual({ kind: "keepTeamSecret", arn });
    kept.runtimeEnv[0].value = "rotated";
    expect(toSettingsInput(kept).runtimeEnv[0].value).toEqual({ kind: "newSecret", value: "rotated" });
  });
  it("a new secret value is sent as a new secret", () => {
    const edited = formFromSettings(prod);
    edited.runtimeEnv[0].value = "rotated";
    expect(toSettingsInput(edited).runtimeEnv[0].value).toEqual({ kind: "newSecret", value: "rotated" });
  });
});

describe("editing an existing stage", () => {
  it("does not check the fixed name", () => {
    expect(checkForm({ ...form(), name: "" }, [], { checkName: false })).toEqual({});
  });
});

describe("rules generated from Rust", () => {
  it("refuses the variables Stageline injects, from the engine's own list", async () => {
    const rules = await import("../bindings/rules");
    const f = { ...form(), buildEnv: [{ name: "AWS_SECRET_ACCESS_KEY", value: "x", secret: false, keychainRef: null }] };
    expect(rules.RESERVED_VARIABLES).toContain("AWS_SECRET_ACCESS_KEY");
    expect(checkForm(f, [])["buildEnv.0.name"]).toContain("set by Stageline");
  });

  it("starts a new stage with the engine's container port and health path", async () => {
    const rules = await import("../bindings/rules");
    expect(form().containerPort).toBe(rules.DEFAULT_CONTAINER_PORT);
    expect(form().healthPath).toBe(rules.DEFAULT_HEALTH_PATH);
    expect(checkForm({ ...form(), healthPath: "ping" }, []).healthPath).toContain("start with /");
  });
});

describe("the stage-name rule is Rust's", () => {
  it("follows whatever pattern the engine exports (the form holds no copy)", async () => {
    vi.resetModules();
    vi.doMock("../bindings/rules", async (original) => ({
      ...(await original<typeof import("../bindings/rules")>()),
      STAGE_NAME_PATTERN: /^x+$/,
    }));
    const fresh = await import("./stageForm");
    const named = (name: string) => ({ ...fresh.emptyForm("us-east-1"), name });
    expect(fresh.checkForm(named("xxx"), []).name).toBeUndefined();
    expect(fresh.checkForm(named("dev"), []).name).toBeDefined();
    vi.doUnmock("../bindings/rules");
    vi.resetModules();
  });
});

describe("approval policy (team stacks)", () => {
  it("sends one approver per typed line and shows the backend's errors beside the box", () => {
    const f = { ...form(), approvers: " arn:aws:iam::1:user/a \n\n arn:aws:iam::1:user/b", noSelfApproval: true };
    expect(toSettingsInput(f).approvalPolicy).toEqual({
      approvers: ["arn:aws:iam::1:user/a", "arn:aws:iam::1:user/b"],
      noSelfApproval: true,
    });
    const fromBackend = { "approvalPolicy.approvers.1": "An approver ARN has no spaces.", name: "x" };
    expect(listErrors(fromBackend, "approvalPolicy.approvers")).toBe("An approver ARN has no spaces.");
  });
});
