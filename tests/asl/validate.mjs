// State machine definitions checked by AWS's own validator (amazon-states-language-service,
// the AWS Toolkit's) and by asl-validator, both pinned in package.json; both read JSONata.
//
// stdin: {"<name>": "<definition as JSON text>", ...}
// stdout: {"<name>": ["<validator>: <diagnostic>", ...], ...}; an empty list means valid.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { getLanguageService, TextDocument } = require("amazon-states-language-service");
const aslValidator = require("asl-validator");

const toolkit = getLanguageService({});

async function toolkitDiagnostics(name, text) {
  const document = TextDocument.create(`${name}.asl.json`, "json", 0, text);
  const diagnostics = await toolkit.doValidation(document, toolkit.parseJSONDocument(document));
  return diagnostics.map(({ message, range }) => {
    const { line, character } = range.start;
    return `amazon-states-language-service: ${message} (line ${line + 1}, column ${character + 1})`;
  });
}

function aslValidatorDiagnostics(text) {
  const { errors } = aslValidator(JSON.parse(text), { checkPaths: true, checkArn: true });
  return errors.map((error) => `asl-validator: ${error["Error code"]}: ${error.Message}`);
}

let input = "";
for await (const chunk of process.stdin) {
  input += chunk;
}
const report = {};
for (const [name, text] of Object.entries(JSON.parse(input))) {
  report[name] = [...(await toolkitDiagnostics(name, text)), ...aslValidatorDiagnostics(text)];
}
process.stdout.write(JSON.stringify(report));
