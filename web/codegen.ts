// Operation types from the gateway's schema (web/schema.graphql, dumped by `python -m services.gateway.sdl`):
// `npm run build` regenerates src/gql/ first, so an operation the schema no longer answers fails the build.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "schema.graphql",
  documents: ["src/dashboard/**/*.{ts,tsx}"],
  ignoreNoDocuments: false,
  generates: {
    "src/gql/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { Date: "string", DateTime: "string", Decimal: "string", JSON: "unknown", BigInt: "string" },
      },
    },
  },
  hooks: {},
};

export default config;
