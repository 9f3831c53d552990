// Parses Power Query M with Microsoft's parser (@microsoft/powerquery-parser).
// stdin: {"<name>": "<M expression>", ...}
// stdout: {"<name>": {"ok": true, "free": [identifiers the expression does not bind itself]}
//          or {"ok": false, "error": "<the parser's message>"}, ...}
import * as PQP from "@microsoft/powerquery-parser";

const { NodeKind } = PQP.Language.Ast;

async function check(text) {
    const task = await PQP.TaskUtils.tryLexParse(PQP.DefaultSettings, text);
    if (!PQP.TaskUtils.isOk(task)) {
        return { ok: false, error: task.error?.message ?? String(task.error) };
    }
    const bound = new Set();
    const used = new Set();
    for (const node of task.nodeIdMapCollection.astNodeById.values()) {
        if (node.kind === NodeKind.IdentifierPairedExpression) bound.add(node.key.literal);
        else if (node.kind === NodeKind.Parameter) bound.add(node.name.literal);
        else if (node.kind === NodeKind.IdentifierExpression) used.add(node.identifier.literal);
    }
    return { ok: true, free: [...used].filter((name) => !bound.has(name)).sort() };
}

let input = "";
for await (const chunk of process.stdin) input += chunk;
const queries = JSON.parse(input);
const results = {};
for (const [name, text] of Object.entries(queries)) results[name] = await check(text);
process.stdout.write(JSON.stringify(results));
