// The console's entry point: sign-in, the collection, the profile panel and the request log.
import { $ } from "./dom.js";
import * as profiles from "./profiles.js";
import * as detail from "./detail.js";
import * as session from "./session.js";

async function start() {
  detail.start({ onChanged: () => profiles.load() });
  profiles.start((id) => detail.open(id));
  $("#create").addEventListener("click", () => detail.create());
  await session.start(() => profiles.load());
  await profiles.load();
  document.body.dataset.ready = "true";
}

start();
