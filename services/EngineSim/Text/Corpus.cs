namespace Platform.EngineSim.Text;

/// <summary>
/// The text the simulator "generates": a few pages of prose and of code in several languages, walked by
/// <see cref="TextGenerator"/>. ASCII only, so every token decodes to whole characters and the per-token
/// texts concatenate to exactly the decoded sequence. Prose is cut at sentence ends, code at blank lines
/// (one function or statement group per block), so a jump between segments always lands on a boundary.
/// </summary>
internal static class Corpus
{
    /// <summary>Paragraphs of prose; sentences are the segments.</summary>
    public const string Prose = """
        The history of the lighthouse is a history of patience. Long before electric lamps, keepers climbed the spiral stairs every evening to trim the wicks and polish the lenses. A single night of neglect could put a ship on the rocks, so the work was done by routine rather than by inspiration. Most keepers kept a logbook, and the entries are remarkably similar from one decade to the next: wind from the southwest, visibility fair, lamp lit at dusk.

        Good writing follows the same discipline. The first draft is rarely the one worth keeping, and the value comes from the second and third passes. Each revision removes a little noise until the argument stands on its own. Readers notice clarity long before they notice style.

        A city is easier to understand from its markets than from its monuments. In the early morning the stalls fill with bread, fish and vegetables, and the prices tell you what the surrounding farms are good at. By noon the crowd changes, and office workers replace the restaurant buyers. A careful observer can read the economy of a whole region in a single walk between the stalls.

        Sleep is one of the least glamorous and most effective tools for learning. During the night the brain replays the patterns it practiced during the day and stores the ones that matter. Students who trade sleep for extra hours of study often remember less, not more. The lesson is simple, although it is hard to follow during exam season.

        There are three reasons the plan is likely to work. First, the team has already delivered a smaller version of the same project on time. Second, the budget includes a reserve for the risks we can name today. Third, the schedule leaves room to learn from the first month before the larger rollout begins.

        Rivers shape the land slowly and then all at once. For centuries the water carves a patient channel, moving a few grains of sand at a time. Then a single flood moves more earth in one afternoon than the previous hundred years combined. Geologists call this punctuated change, and it appears in many other systems as well.

        To summarize, the key trade-off is between speed and certainty. A quick answer is useful when the cost of a mistake is small and easy to reverse. A slower and more thorough answer is better when the decision is expensive or permanent. Most of the skill lies in telling these two situations apart.

        The old library had no catalogue, only a librarian who remembered where everything was. Visitors described a book, and she would disappear between the shelves and return a few minutes later with exactly the right volume. When she retired, it took a team of volunteers two years to write down what she had carried in her head. Knowledge that lives in one person is fragile, however impressive it looks.

        Cooking for a large group is mostly a problem of timing. The roast needs an hour, the vegetables need twenty minutes, and the sauce must be finished at the very end. Experienced cooks work backwards from the moment the food reaches the table. Everything else is a matter of preparation and a clean workspace.

        Climate models are not crystal balls, but they are far from guesses. They divide the atmosphere and the oceans into cells and apply the laws of physics to each one. The results are checked against past observations before anyone trusts them with the future. Their value lies in the range of outcomes they describe rather than in a single number.

        In practice, most performance problems come from a small number of causes. A slow database query, an unbounded queue or a missing cache explains the majority of incidents. Measuring before optimizing saves days of effort, because intuition about bottlenecks is often wrong. Once the real cause is known, the fix is usually small.

        The small harbor town changes character with the seasons. In summer the streets are full of visitors, the cafes stay open late and the ferry runs every hour. In winter the same streets are quiet, and the fishermen repair their nets in the shelter of the sea wall. Residents say they prefer the winter, even if the summer pays the bills.

        Learning a new language as an adult is slower than it is for children, but it is far from hopeless. Adults bring discipline, a larger vocabulary in their first language and a clear reason to learn. Short daily practice beats long weekly sessions, because memory rewards repetition over intensity. Conversation with patient native speakers accelerates everything else.

        """;

    /// <summary>Lead-in sentences before a code block, one of which starts every code answer.</summary>
    public static readonly string[] CodeLeadIns =
    [
        "Here is an implementation that handles the edge cases:\n\n",
        "Sure. The following code does what you described:\n\n",
        "You can solve this with a small helper:\n\n",
        "Here is a version that is easy to test:\n\n",
    ];

    /// <summary>Code by language: fence tag and blocks separated by blank lines.</summary>
    public static readonly (string Language, string Source)[] Code =
    [
        ("python", """
            def parse_config(path):
                with open(path, "r", encoding="utf-8") as handle:
                    data = json.load(handle)
                if "version" not in data:
                    raise ValueError("missing version field")
                return data

            def chunked(items, size):
                for start in range(0, len(items), size):
                    yield items[start:start + size]

            class RateLimiter:
                def __init__(self, rate, burst):
                    self.rate = rate
                    self.tokens = burst
                    self.burst = burst
                    self.updated = time.monotonic()

                def allow(self):
                    now = time.monotonic()
                    self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
                    self.updated = now
                    if self.tokens >= 1:
                        self.tokens -= 1
                        return True
                    return False

            def merge_sorted(left, right):
                result = []
                i = j = 0
                while i < len(left) and j < len(right):
                    if left[i] <= right[j]:
                        result.append(left[i])
                        i += 1
                    else:
                        result.append(right[j])
                        j += 1
                result.extend(left[i:])
                result.extend(right[j:])
                return result

            async def fetch_all(session, urls):
                tasks = [session.get(url, timeout=10) for url in urls]
                responses = await asyncio.gather(*tasks, return_exceptions=True)
                return [r for r in responses if not isinstance(r, Exception)]

            def word_counts(text):
                counts = {}
                for word in text.lower().split():
                    word = word.strip(".,;:!?")
                    if word:
                        counts[word] = counts.get(word, 0) + 1
                return sorted(counts.items(), key=lambda kv: kv[1], reverse=True)

            if __name__ == "__main__":
                config = parse_config(sys.argv[1])
                print(f"loaded {len(config)} keys")

            """),
        ("csharp", """
            public static async Task<IReadOnlyList<Order>> LoadOrdersAsync(HttpClient client, CancellationToken cancellationToken)
            {
                using var response = await client.GetAsync("/api/orders", cancellationToken);
                response.EnsureSuccessStatusCode();
                var orders = await response.Content.ReadFromJsonAsync<List<Order>>(cancellationToken);
                return orders ?? [];
            }

            public sealed record Order(int Id, string Customer, decimal Total, DateTimeOffset CreatedAt);

            public static int BinarySearch(int[] values, int target)
            {
                var low = 0;
                var high = values.Length - 1;
                while (low <= high)
                {
                    var mid = low + ((high - low) / 2);
                    if (values[mid] == target)
                    {
                        return mid;
                    }

                    if (values[mid] < target)
                    {
                        low = mid + 1;
                    }
                    else
                    {
                        high = mid - 1;
                    }
                }

                return -1;
            }

            public sealed class LruCache<TKey, TValue>(int capacity) where TKey : notnull
            {
                private readonly Dictionary<TKey, LinkedListNode<(TKey Key, TValue Value)>> _map = new();
                private readonly LinkedList<(TKey Key, TValue Value)> _order = new();

                public bool TryGet(TKey key, out TValue value)
                {
                    if (_map.TryGetValue(key, out var node))
                    {
                        _order.Remove(node);
                        _order.AddFirst(node);
                        value = node.Value.Value;
                        return true;
                    }

                    value = default!;
                    return false;
                }
            }

            var totals = orders
                .Where(o => o.CreatedAt >= since)
                .GroupBy(o => o.Customer)
                .Select(g => new { Customer = g.Key, Total = g.Sum(o => o.Total) })
                .OrderByDescending(x => x.Total)
                .ToList();

            """),
        ("javascript", """
            export async function fetchJson(url, { retries = 3, delayMs = 200 } = {}) {
              for (let attempt = 0; attempt <= retries; attempt++) {
                const response = await fetch(url);
                if (response.ok) {
                  return response.json();
                }
                await new Promise((resolve) => setTimeout(resolve, delayMs * 2 ** attempt));
              }
              throw new Error(`request to ${url} failed after ${retries} retries`);
            }

            function debounce(fn, waitMs) {
              let timer = null;
              return (...args) => {
                clearTimeout(timer);
                timer = setTimeout(() => fn(...args), waitMs);
              };
            }

            const groupBy = (items, keyFn) =>
              items.reduce((groups, item) => {
                const key = keyFn(item);
                (groups[key] ||= []).push(item);
                return groups;
              }, {});

            class EventBus {
              constructor() {
                this.handlers = new Map();
              }

              on(event, handler) {
                const list = this.handlers.get(event) ?? [];
                list.push(handler);
                this.handlers.set(event, list);
                return () => this.off(event, handler);
              }

              emit(event, payload) {
                for (const handler of this.handlers.get(event) ?? []) {
                  handler(payload);
                }
              }
            }

            app.get("/api/users/:id", async (req, res) => {
              const user = await db.users.findById(req.params.id);
              if (!user) {
                return res.status(404).json({ error: "not found" });
              }
              res.json(user);
            });

            """),
        ("go", """
            func ReadLines(path string) ([]string, error) {
            	file, err := os.Open(path)
            	if err != nil {
            		return nil, fmt.Errorf("open %s: %w", path, err)
            	}
            	defer file.Close()

            	var lines []string
            	scanner := bufio.NewScanner(file)
            	for scanner.Scan() {
            		lines = append(lines, scanner.Text())
            	}
            	return lines, scanner.Err()
            }

            type Worker struct {
            	jobs    chan Job
            	results chan Result
            	wg      sync.WaitGroup
            }

            func (w *Worker) Start(ctx context.Context, n int) {
            	for i := 0; i < n; i++ {
            		w.wg.Add(1)
            		go func() {
            			defer w.wg.Done()
            			for {
            				select {
            				case <-ctx.Done():
            					return
            				case job := <-w.jobs:
            					w.results <- job.Run()
            				}
            			}
            		}()
            	}
            }

            func handleHealth(w http.ResponseWriter, r *http.Request) {
            	w.Header().Set("Content-Type", "application/json")
            	json.NewEncoder(w).Encode(map[string]string{"status": "ok"})
            }

            """),
        ("rust", """
            fn parse_pairs(input: &str) -> Result<Vec<(String, i64)>, ParseIntError> {
                input
                    .lines()
                    .filter(|line| !line.trim().is_empty())
                    .map(|line| {
                        let (key, value) = line.split_once('=').unwrap_or((line, "0"));
                        Ok((key.trim().to_string(), value.trim().parse::<i64>()?))
                    })
                    .collect()
            }

            pub struct Stack<T> {
                items: Vec<T>,
            }

            impl<T> Stack<T> {
                pub fn new() -> Self {
                    Stack { items: Vec::new() }
                }

                pub fn push(&mut self, item: T) {
                    self.items.push(item);
                }

                pub fn pop(&mut self) -> Option<T> {
                    self.items.pop()
                }
            }

            fn fibonacci(n: u32) -> u64 {
                let (mut a, mut b) = (0u64, 1u64);
                for _ in 0..n {
                    let next = a + b;
                    a = b;
                    b = next;
                }
                a
            }

            """),
        ("sql", """
            SELECT c.customer_id,
                   c.name,
                   COUNT(o.order_id) AS order_count,
                   SUM(o.total) AS revenue
            FROM customers c
            JOIN orders o ON o.customer_id = c.customer_id
            WHERE o.created_at >= DATE '2024-01-01'
            GROUP BY c.customer_id, c.name
            HAVING SUM(o.total) > 1000
            ORDER BY revenue DESC
            LIMIT 20;

            CREATE TABLE events (
                event_id BIGSERIAL PRIMARY KEY,
                user_id BIGINT NOT NULL REFERENCES users(user_id),
                kind TEXT NOT NULL,
                payload JSONB,
                created_at TIMESTAMPTZ NOT NULL DEFAULT now()
            );

            CREATE INDEX idx_events_user_created ON events (user_id, created_at DESC);

            WITH ranked AS (
                SELECT user_id,
                       kind,
                       ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY created_at DESC) AS rn
                FROM events
            )
            SELECT user_id, kind
            FROM ranked
            WHERE rn = 1;

            """),
        ("bash", """
            #!/usr/bin/env bash
            set -euo pipefail

            backup_dir="/var/backups/$(date +%Y-%m-%d)"
            mkdir -p "$backup_dir"

            for db in $(psql -At -c "SELECT datname FROM pg_database WHERE NOT datistemplate"); do
              pg_dump --format=custom "$db" > "$backup_dir/$db.dump"
              echo "dumped $db"
            done

            find /var/backups -maxdepth 1 -type d -mtime +14 -exec rm -rf {} +

            if ! curl -fsS "http://localhost:8080/health" > /dev/null; then
              echo "service is not healthy" >&2
              exit 1
            fi

            """),
    ];
}
