/**
 * The errors the ports throw (lambdas/core/ports.ts): their names and messages are what a log line
 * shows of them, and the management API tells them apart by class.
 */
import { InvalidCursor, RedriveInProgress, StaleWrite } from "#core/ports.ts";

describe("the ports' errors", () => {
  test("StaleWrite keeps its message and names itself", () => {
    const e = new StaleWrite("the record changed since it was read");
    expect([e.name, e.message, e instanceof Error]).toEqual(["StaleWrite", "the record changed since it was read", true]);
  });

  test("InvalidCursor says whether the cursor is malformed or another webhook's", () => {
    const malformed = new InvalidCursor("malformed");
    const foreign = new InvalidCursor("foreign");
    expect([malformed.name, malformed.reason, malformed.message]).toEqual(["InvalidCursor", "malformed", "not a cursor of the delivery log"]);
    expect([foreign.name, foreign.reason, foreign.message]).toEqual(["InvalidCursor", "foreign", "a cursor of another webhook's delivery log"]);
  });

  test("RedriveInProgress names the running task when SQS gave one", () => {
    const named = new RedriveInProgress({ taskId: "task-1", status: "RUNNING" });
    const unnamed = new RedriveInProgress({ status: "RUNNING" });
    expect([named.name, named.message]).toEqual(["RedriveInProgress", "a DLQ redrive is already running (task task-1)"]);
    expect(unnamed.message).toBe("a DLQ redrive is already running");
    expect(named.task).toMatchObject({ taskId: "task-1" });
  });
});
