/**
 * `application/yaml` request bodies: manifests may be posted as YAML (one or several
 * documents); the parsed documents reach the route wrapped so it knows they came as YAML.
 */
import type { FastifyInstance } from 'fastify';
import { parseManifestText } from '../tenants/index.js';

/** Documents parsed from a YAML body. */
export class YamlDocuments {
  constructor(readonly documents: unknown[]) {}
}

/** Accept YAML bodies (`application/yaml`, `application/x-yaml`, `text/yaml`). */
export function registerYamlParser(app: FastifyInstance): void {
  app.addContentTypeParser(
    ['application/yaml', 'application/x-yaml', 'text/yaml'],
    { parseAs: 'string' },
    (_request, body, done) => {
      try {
        done(null, new YamlDocuments(parseManifestText(String(body), 'request body')));
      } catch (error) {
        done(error as Error, undefined);
      }
    },
  );
}
