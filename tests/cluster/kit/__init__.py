"""What the cluster tier is built and driven with: the node and its daemons (pki, processes,
node, daemons, addons, teardown), the images and binaries it builds (versions, builds,
images), `up`/`down` (cluster), and the helpers the tests drive it through (kubectl,
manifests, kafka_tools, load, scaling). The tests themselves are the test_*.py beside this
package."""
