-- Write the book's HTML pages: `pandoc lua pages.lua < job.json` (see render.py). The job (JSON) names
-- the page template (a Pandoc template), gives what every page shares (`common`, and the sidebar
-- `nav`: parts and their chapters) and each page's file, its place in the sidebar and its own context.
-- One process fills every page, so a page costs no Pandoc start of its own.
local job = pandoc.json.decode(io.read('a'), false)
local fh = assert(io.open(job.template))
local template = pandoc.template.compile(fh:read('a'), job.template)
fh:close()
for _, page in ipairs(job.pages) do
  local part = job.nav[page.nav[1]]
  local chapter = part.chapters[page.nav[2]]
  part.open, chapter.current = part.folded, true  -- the page's own part is open, its link marked
  local context = page.context
  for key, value in pairs(job.common) do context[key] = value end
  context.nav = job.nav
  local out = assert(io.open(page.path, 'w'))
  out:write(pandoc.layout.render(pandoc.template.apply(template, context)))
  out:close()
  part.open, chapter.current = false, false
end
